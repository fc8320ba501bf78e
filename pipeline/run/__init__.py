"""`alignpipe run`: the orchestrator that runs a pipeline recipe stage after stage into one run directory."""
