"""alignpipe: pretraining, SFT, reward modelling, PPO, DPO and evaluation on the Hugging Face stack.

Importing `pipeline` registers MiniGPT with the Transformers Auto classes, so
`AutoModelForCausalLM.from_pretrained(path)` and TRL trainers given a path to a
MiniGPT checkpoint just work, in every `accelerate launch` worker too. When
transformers is not imported yet, the registration happens the moment it is,
so light commands (`alignpipe plan`, `alignpipe eval judgments`) do not pay
for importing torch.
"""

__version__ = "0.1.0"

from pipeline.models import register_when_transformers_loads as _hook

_hook()
