"""Reliability and security trials (issue 7): ``python -m reliability.run``; see run.py."""
