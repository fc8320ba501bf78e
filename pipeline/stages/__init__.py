"""One script per pipeline stage, each `main(argv)` top to bottom: parse → data → tokenizer → model →
trainer → finish. Run one as `alignpipe <stage>`, `python -m alignpipe.stages.<stage>` or
`accelerate launch pipeline/stages/<stage>.py`. The shared steps are in `alignpipe.training.stage`."""
