"""One evaluation for every policy: each clip of a split exactly once, then the metrics.

All clips of the split run side by side in one :class:`~emo_env.envs.vector.AVEmotionVectorEnv`
with ``clip_order="sequential"``, so slot ``i`` plays the split's ``i``-th clip; a slot is
scored when its first episode ends and ignored afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from agents.metrics import Metrics, compute_metrics
from agents.policy import Policy
from emo_env.envs.episodes import open_store
from emo_env.envs.vector import AVEmotionVectorEnv

__all__ = ["Evaluation", "evaluate", "pareto_front", "curve_accuracy_at", "area_under_tradeoff"]


@dataclass(frozen=True)
class Evaluation:
    """Per-episode table (:data:`agents.metrics.EPISODE_COLUMNS`, one row per clip) and its metrics."""

    episodes: pd.DataFrame
    metrics: Metrics


def evaluate(policy: Policy, env_kwargs: Mapping[str, Any], split: str = "eval") -> Evaluation:
    """Run ``policy`` once on every clip of ``split`` of the env described by ``env_kwargs``."""
    store = open_store(env_kwargs.get("store"))
    n = len(store.clip_indices(split))
    env = AVEmotionVectorEnv(n, **{**env_kwargs, "store": store, "split": split, "clip_order": "sequential"})
    obs, infos = env.reset(seed=0)
    clip_ids, speakers, labels = infos["clip_id"].copy(), infos["speaker"].copy(), infos["label"].copy()
    policy.reset(np.ones(n, dtype=bool))
    active = np.ones(n, dtype=bool)
    returns = np.zeros(n)
    columns = {name: np.zeros(n, dtype=dtype) for name, dtype in
               (("prediction", np.int64), ("decision_step", np.int64), ("time_s", np.float64),
                ("fraction", np.float64))}
    while active.any():
        actions = policy.act(obs, infos["action_mask"])
        obs, rewards, terminated, truncated, infos = env.step(actions)
        returns[active] += rewards[active]
        done = (terminated | truncated) & active
        for name, key in (("prediction", "prediction"), ("decision_step", "decision_step"),
                          ("time_s", "decision_time_s"), ("fraction", "earliness")):
            columns[name][done] = infos[key][done]
        active &= ~done
    env.close()
    episodes = pd.DataFrame({"clip_id": clip_ids, "speaker": speakers, "label": labels,
                             "steps": store.lengths[env.episodes.clips], **columns, "return": returns})
    return Evaluation(episodes, compute_metrics(episodes, store.num_classes))


def pareto_front(points: pd.DataFrame) -> pd.DataFrame:
    """Points not dominated by another (higher or equal accuracy at lower or equal earliness), by earliness."""
    ordered = points.sort_values(["earliness", "accuracy"], ascending=[True, False])
    best = -np.inf
    keep = []
    for index, accuracy in ordered["accuracy"].items():
        if accuracy > best:
            keep.append(index)
            best = accuracy
    return ordered.loc[keep].reset_index(drop=True)


def curve_accuracy_at(front: pd.DataFrame, earliness: float) -> float:
    """Best accuracy the front reaches at ``earliness`` or earlier (a step function; 0 before its first point)."""
    reached = front.loc[front["earliness"] <= earliness, "accuracy"]
    return float(reached.max()) if len(reached) else 0.0


def area_under_tradeoff(points: pd.DataFrame) -> float:
    """Area under the best accuracy reached by each earliness in [0, 1] (the Pareto step function of
    ``points``, 0 before its first point): 1 for a perfect answer at the first step."""
    front = pareto_front(points)
    edges = np.append(front["earliness"].to_numpy(np.float64).clip(0.0, 1.0), 1.0)
    return float((np.diff(edges) * front["accuracy"].to_numpy(np.float64)).sum())
