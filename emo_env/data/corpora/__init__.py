"""Adapters for public audio-visual emotion corpora."""
