"""Agents that learn when to answer, baselines, evaluation and the benchmark.

Every agent is a :class:`Policy` (observation and action mask in, action out, batched),
registered by name in :data:`AGENTS`; :func:`load_policy` reads back any saved policy.
"""

from agents.evaluation import Evaluation, evaluate
from agents.metrics import Metrics, compute_metrics, harmonic_mean
from agents.policy import Policy, PolicySpec
from agents.registry import AGENTS, get_agent, load_policy

__all__ = ["AGENTS", "PolicySpec", "Evaluation", "Metrics", "Policy", "compute_metrics", "evaluate", "get_agent",
           "harmonic_mean", "load_policy"]
