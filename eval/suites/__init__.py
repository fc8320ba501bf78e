"""Packaged evaluation suites (YAML): `alignpipe eval --suite NAME` reads NAME.yaml from this folder.

See `alignpipe.eval.suite` for the format.
"""
