"""Clips, dataset adapters, ingest (faces and log-mel windows), splits, the feature store, the synthetic corpus."""
