"""The value of waiting at a step, and the belief features a predictor of it may see.

:func:`waiting_gain` is the target: at each step where a clip may still wait, the return the clip realises
by waiting and then following a continuation rule (answering at the rule's first ready step after this
one, or at its last step), less the return of answering now. With a good continuation rule (the tuned
threshold on the top probability) this is the gain a policy can actually collect by waiting, in the
env's own units: its conditional mean given what a policy sees is the quantity whose sign decides
"answer" or "wait" in one step of policy improvement over that rule, and what backward-induction rules
(CALIMERA, Longstaff-Schwartz) regress. A hindsight target (the best return over every later step) would
instead reward clairvoyance: no policy collects it, and a single lucky flicker to the right class counts.

:func:`belief_features` are the (p, t) summary every rule of :mod:`agents.early_rules` sees;
:func:`belief_dynamics` adds how the beliefs moved over the last steps.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from agents.stopping import BeliefPaths, top_two

__all__ = ["continuation_stops", "waiting_gain", "belief_features", "belief_dynamics", "BELIEF_FEATURES",
           "DYNAMICS_FEATURES"]

BELIEF_FEATURES = ("top", "margin", "entropy", "time")
DYNAMICS_FEATURES = ("top_change_1", "top_change_2", "top_change_3", "leader_change_1", "leader_change_2",
                     "leader_change_3", "belief_shift_1", "top_std_5", "leader_run")


def continuation_stops(paths: BeliefPaths, ready: np.ndarray) -> np.ndarray:
    """``[N, T]``: the step each clip answers at if it waits at step ``t`` and then follows ``ready [N, T]``
    (its first ready step after ``t``, or its last step); a clip's last step and padding give its last step."""
    steps = paths.steps()
    last = paths.length[:, None] - 1
    candidate = np.where((np.asarray(ready, dtype=bool) & paths.free) | (steps == last), steps, np.iinfo(np.int64).max)
    first_from = np.minimum.accumulate(candidate[:, ::-1], axis=1)[:, ::-1]  # first candidate at or after t
    after = np.concatenate([first_from[:, 1:], np.full((len(last), 1), np.iinfo(np.int64).max)], axis=1)
    stops: np.ndarray = np.where(paths.free, after, last)
    return stops


def waiting_gain(paths: BeliefPaths, ready: np.ndarray) -> np.ndarray:
    """``[N, T]``: the return of waiting at each step and then following ``ready`` (see
    :func:`continuation_stops`) less the return of answering there; NaN where waiting is not allowed."""
    answer = paths.answer
    later = np.take_along_axis(answer, continuation_stops(paths, ready), axis=1)
    gain: np.ndarray = np.where(paths.free, later - answer, np.nan)
    return gain


def belief_features(probs: np.ndarray, time: np.ndarray) -> np.ndarray:
    """``[..., 4]``: the top class probability, its margin over the second, the entropy of the beliefs
    (nats) and the time observed, as :data:`BELIEF_FEATURES` names them."""
    top, margin = top_two(probs)
    entropy = -(probs * np.log(np.clip(probs, 1e-12, None))).sum(axis=-1)
    return np.stack([top, margin, entropy, time], axis=-1)


def belief_dynamics(probs: np.ndarray, window: int = 5) -> np.ndarray:
    """``[N, T, 9]``: how the beliefs ``probs [N, T, K]`` moved up to each step, as :data:`DYNAMICS_FEATURES`
    names them: the change of the top probability over the last 1-3 steps, the change of the current
    leader's probability over the last 1-3 steps, the L1 shift of the beliefs over the last step, the
    standard deviation of the top probability over the last ``window`` steps, and the steps the current
    leader has led. Before the first step, the first step stands in."""
    steps = probs.shape[1]
    top = probs.max(axis=-1)
    leader = probs.argmax(axis=-1)

    def back(k: int) -> np.ndarray:
        return np.maximum(np.arange(steps) - k, 0)

    top_change = [top - top[:, back(k)] for k in (1, 2, 3)]
    leader_change = [top - np.take_along_axis(probs[:, back(k)], leader[..., None], axis=-1)[..., 0] for k in (1, 2, 3)]
    shift = np.abs(probs - probs[:, back(1)]).sum(axis=-1)
    padded = np.pad(top, ((0, 0), (window - 1, 0)), mode="edge")
    spread = sliding_window_view(padded, window, axis=1).std(axis=-1)
    run = np.ones(top.shape)
    for t in range(1, steps):
        run[:, t] = np.where(leader[:, t] == leader[:, t - 1], run[:, t - 1] + 1, 1)
    return np.stack([*top_change, *leader_change, shift, spread, run], axis=-1)
