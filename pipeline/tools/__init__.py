"""Commands around the stages: plan (scaling laws, memory), merge (LoRA), publish and cards (Hub), data
(check and convert files)."""
