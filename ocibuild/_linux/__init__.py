"""Thin wrappers around Linux system calls that the stdlib does not expose well.

One small function per call, no policy: callers decide, these only act.
"""
