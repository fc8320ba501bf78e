"""What every stage shares: recipe parsing (configs), data sources and formats, tokenizers and chat
templates, model loading (modeling), the stage steps (stage), run records, errors, and small I/O rules
(io: atomic JSON, secret masking, local path or Hub id; log: rank-aware output)."""
