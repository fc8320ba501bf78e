"""alignpipe's evaluation module: held-out benchmarks, preference judging, verbosity checks, reports.

Installed as `alignpipe.eval` (the top-level folder `eval/` is mapped into the `alignpipe` package)."""

if __name__ != "alignpipe.eval":
    raise ImportError(
        f"import alignpipe.eval, not {__name__} (the folder eval/ is installed as alignpipe.eval)"
    )
