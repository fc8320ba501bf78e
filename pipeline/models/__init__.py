"""Model definitions. `register()` makes MiniGPT known to the Transformers Auto classes."""

_registered = False


def register() -> None:
    global _registered
    if _registered:
        return
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

    from pipeline.models.minigpt import (
        MiniGPTConfig,
        MiniGPTForCausalLM,
        MiniGPTForSequenceClassification,
        MiniGPTModel,
    )

    AutoConfig.register("minigpt", MiniGPTConfig, exist_ok=True)
    AutoModel.register(MiniGPTConfig, MiniGPTModel, exist_ok=True)
    AutoModelForCausalLM.register(MiniGPTConfig, MiniGPTForCausalLM, exist_ok=True)
    AutoModelForSequenceClassification.register(MiniGPTConfig, MiniGPTForSequenceClassification, exist_ok=True)
    _registered = True
