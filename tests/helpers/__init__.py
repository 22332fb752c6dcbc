"""Shared test helpers: image readers, filesystem normalisation, builders.

Nothing here imports ocibuild: the helpers read images the way any OCI or
Docker consumer would, so they can judge ocibuild's output independently.
"""
