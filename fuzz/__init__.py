"""Fuzz targets (atheris) and their seed corpus; see fuzz/targets.py and docs/testing.md."""
