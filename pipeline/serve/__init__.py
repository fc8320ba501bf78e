"""Using a trained model: `alignpipe chat` (interactive, streamed), `alignpipe generate` (prompts to JSONL),
the sampling flags and presets both share, and the guardrail that screens prompts in front of a model."""
