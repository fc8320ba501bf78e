"""alignpipe's evaluation module: held-out benchmarks, preference judging, verbosity checks, reports."""
