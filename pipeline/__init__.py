"""alignpipe: pretraining, SFT, reward modelling, PPO, DPO and evaluation on the Hugging Face stack.

The installed distribution has one import package, `alignpipe`: this folder (`pipeline/`) is `alignpipe`
and the top-level `eval/` folder is `alignpipe.eval` (pyproject.toml maps them; docs/architecture.md).

Importing `alignpipe` registers MiniGPT with the Transformers Auto classes, so
`AutoModelForCausalLM.from_pretrained(path)` and TRL trainers given a path to a
MiniGPT checkpoint just work, in every `accelerate launch` worker too. When
transformers is not imported yet, the registration happens the moment it is,
so light commands (`alignpipe plan`, `alignpipe eval judgments`) do not pay
for importing torch.
"""

if __name__ != "alignpipe":  # imported as `pipeline` from the source tree: two copies of every class
    raise ImportError(
        f"import alignpipe, not {__name__} (the folder pipeline/ is installed as the package "
        "alignpipe: run `make venv`, or `pip install -e .`)"
    )

__version__ = "0.1.0"

import logging as _logging

# bitsandbytes' CPU backend warns at import, on every command, that an optional kernel package is absent;
# its plain fallback is what runs here. Its real warnings (other loggers) still show.
_logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(_logging.ERROR)

from alignpipe.models import register_when_transformers_loads as _hook

_hook()
