"""Packaged evaluation suites (YAML): `alignpipe eval --suite NAME` reads NAME.yaml from this folder.

See `eval.suite` for the format.
"""
