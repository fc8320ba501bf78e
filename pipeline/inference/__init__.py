"""Using a model, below every command that does: eval, serve (chat, generate), the stages and the tools.

    modeling.py    tokenizers and models for training and use (precision, 4/8-bit, pad != eos, GGUF paths)
    loading.py     loading what is evaluated or served: any checkpoint, adapter or GGUF, any precision
    adapters.py    a LoRA adapter on the base it names
    generation.py  batched generation, log-probabilities and KL; answers cached by weights digest
    guard.py       loading a prompt guard and screening prompts with it

Nothing here imports eval, serve, tools, stages, training or run (docs/architecture.md, "Floors").
"""
