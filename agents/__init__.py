"""Agents that learn when to answer, baselines, evaluation and the benchmark."""
