"""alignpipe: pretraining, SFT, reward modelling, PPO, DPO and evaluation on the Hugging Face stack.

Importing `pipeline` registers MiniGPT with the Transformers Auto classes, so
`AutoModelForCausalLM.from_pretrained(path)` and TRL trainers given a path to a
MiniGPT checkpoint just work, in every `accelerate launch` worker too.
"""

__version__ = "0.1.0"

from pipeline.models import register as _register  # noqa: E402

_register()
