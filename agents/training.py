"""One agent run: build or resume, train with checkpoints, evaluate on the held-out split, compare, save.

:func:`run_agent` takes plain arguments; :mod:`agents.run_config` maps a run config onto them for
``train_agent.py`` and ``agents.benchmark``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from agents.baselines import THRESHOLDS, EndPolicy, ThresholdPolicy, threshold_sweep
from agents.evaluation import Evaluation, curve_accuracy_at, evaluate, pareto_front
from agents.monitor import CHECKPOINT_FORMAT, TrainingMonitor
from agents.policy import Policy, PolicySpec
from agents.registry import get_agent
from emo_env.artifacts import CHECKPOINT_FILE, POLICY_FILE, CheckpointError, load_safe
from emo_env.data.store import FeatureStore
from emo_env.envs.episodes import open_store
from emo_env.envs.observations import observation_space

if TYPE_CHECKING:
    from agents.baselines import _RulePolicy

__all__ = ["FAIR_BASELINES", "PUBLISHED_BASELINES", "Baselines", "RunResult", "env_spec", "compute_baselines",
           "end_and_oracle", "compare", "run_agent"]

#: The rule baselines a learner must beat, each tuned on the training split for the mean return.
FAIR_BASELINES = ("threshold", "time-threshold", "fixed")
#: The (p, t) cap and the published early-classification rules, also tuned on the training split: baselines
#: where the benchmark runs them (train_agent.py compares a run with FAIR_BASELINES only, the quick ones).
PUBLISHED_BASELINES = ("dp", "sr1", "teaser", "economy", "calimera")


@dataclass(frozen=True)
class Baselines:
    """What a learner is measured against on the same store and rewards, evaluated on the held-out split."""

    fair: dict[str, Evaluation]  # rule baselines tuned on the training split (FAIR_BASELINES)
    tuned: dict[str, dict[str, float]]  # each fair baseline's tuned parameters
    end: Evaluation  # answer at the last step with the temporal model's argmax
    oracle: pd.DataFrame  # the threshold rule at every threshold on the held-out split: tuned on the test speaker

    @property
    def oracle_front(self) -> pd.DataFrame:
        return pareto_front(self.oracle)


@dataclass
class RunResult:
    """A finished run: the trained policy, its held-out evaluation and its training record."""

    policy: Policy
    evaluation: Evaluation
    monitor: TrainingMonitor
    out_dir: Path | None

    @property
    def train_time_s(self) -> float:
        return self.monitor.train_time_s

    @property
    def steps_per_s(self) -> float:
        if self.policy.num_steps and self.train_time_s > 0:
            return self.policy.num_steps / self.train_time_s
        return float("nan")


def env_spec(store: FeatureStore, obs_mode: str, modality: str | None = None) -> PolicySpec:
    """The spec of policies acting on ``obs_mode`` observations of ``store``."""
    obs_dim = observation_space(store, obs_mode, modality).shape[0]
    return PolicySpec(obs_mode, int(obs_dim), store.num_classes)


def _on_probs(env_kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], PolicySpec]:
    """``env_kwargs`` with the store loaded and ``probs`` observations of both modalities, and their spec."""
    store = open_store(env_kwargs.get("store"))
    return {**env_kwargs, "store": store, "obs_mode": "probs", "modality": None}, env_spec(store, "probs")


def compute_baselines(env_kwargs: Mapping[str, Any],
                      configs: Mapping[str, Mapping[str, Any] | None] | None = None) -> Baselines:
    """The fair baselines (each tuned on the training split by its :meth:`~Policy.learn`, with its
    hyperparameters from ``configs``), answer-at-the-end and the oracle sweep (:func:`end_and_oracle`), all on
    ``probs`` observations. The store is loaded once, here."""
    kwargs, spec = _on_probs(env_kwargs)
    fair, tuned = {}, {}
    for name in FAIR_BASELINES:
        policy = get_agent(name)(spec, (configs or {}).get(name))
        policy.learn({**kwargs, "split": "train"}, 0)
        fair[name] = evaluate(policy, kwargs)
        tuned[name] = {key: getattr(policy.config, key) for key in cast("_RulePolicy", policy).tuned}  # rule baselines
    end, oracle = end_and_oracle(kwargs, (configs or {}).get("threshold"))
    return Baselines(fair, tuned, end, oracle)


def end_and_oracle(env_kwargs: Mapping[str, Any],
                   threshold_config: Mapping[str, Any] | None = None) -> tuple[Evaluation, pd.DataFrame]:
    """On the held-out split, with ``probs`` observations: answering at the end, and the oracle (the
    threshold baseline swept over its candidates, ``threshold_config``'s or :data:`~agents.baselines.THRESHOLDS`).
    The store is loaded once, here."""
    kwargs, spec = _on_probs(env_kwargs)
    candidates = ThresholdPolicy(spec, threshold_config).config.candidates or THRESHOLDS
    return evaluate(EndPolicy(spec), kwargs), threshold_sweep(spec, kwargs, candidates)


def compare(metrics: Mapping[str, float], baselines: Baselines) -> dict[str, Any]:
    """Where a run stands: its mean return against the best fair baseline's, its accuracy against the oracle
    curve at its earliness and against answering at the end."""
    at_oracle = curve_accuracy_at(baselines.oracle_front, metrics["earliness"])
    best = max(baselines.fair, key=lambda name: baselines.fair[name].metrics.mean_return)
    best_return = baselines.fair[best].metrics.mean_return
    end_accuracy = baselines.end.metrics.accuracy
    return {
        "best_fair_baseline": best,
        "best_fair_return": best_return,
        "return_above_fair_baselines": metrics["mean_return"] > best_return,
        "oracle_accuracy_at_earliness": at_oracle,
        "on_or_above_oracle_curve": metrics["accuracy"] >= at_oracle,
        "end_accuracy": end_accuracy,
        "accuracy_gap_to_end": end_accuracy - metrics["accuracy"],
    }


def run_agent(name: str, *, env_kwargs: Mapping[str, Any], hyperparameters: Mapping[str, Any] | None = None,
              seed: int = 0, device: str = "auto", total_steps: int | None = None, out_dir: str | Path | None = None,
              resume: bool = False, checkpoint_every: int = 0, eval_every: int = 0, progress: bool = True,
              run_info: Mapping[str, Any] | None = None) -> RunResult:
    """Train agent ``name`` on the train split of the env ``env_kwargs`` describes, then evaluate it on the
    held-out split. With ``out_dir``: TensorBoard logs, checkpoints (``resume`` continues from the last
    one; a damaged one is named and training starts over) and the saved policy go there. The store (a path
    or a loaded store) is loaded once, here, and the loaded store is what training and evaluation get."""
    cls = get_agent(name)
    store = open_store(env_kwargs.get("store"))
    env_kwargs = {**env_kwargs, "store": store}
    spec = env_spec(store, env_kwargs.get("obs_mode", "belief"), env_kwargs.get("modality"))
    total_steps = cls.default_total_steps if total_steps is None else int(total_steps)
    out_dir = Path(out_dir) if out_dir is not None else None
    checkpoint = out_dir / CHECKPOINT_FILE if out_dir is not None else None
    saved = _load_checkpoint(checkpoint, cls.registry_key(), spec) if resume and checkpoint is not None else None
    policy = cls(spec, saved["config"] if saved else hyperparameters, seed=seed, device=device)
    if saved:
        policy.load_checkpoint_state(saved["agent_state"])
    monitor = TrainingMonitor(
        total_steps, progress=progress and total_steps > 0, log_dir=out_dir / "tb" if out_dir and total_steps else None,
        checkpoint_path=checkpoint, checkpoint_every=checkpoint_every, state=saved["monitor"] if saved else None,
        evaluate=lambda p: evaluate(p, env_kwargs).metrics.summary(), eval_every=eval_every,
        run_info={**dict(run_info or {}), "total_steps": total_steps})
    try:
        trains = total_steps > policy.num_steps
        policy.learn({**env_kwargs, "split": "train", "clip_order": "random"}, total_steps, monitor)
        if trains and checkpoint is not None:
            monitor.save_checkpoint(policy)
    finally:
        monitor.close()
    if out_dir is not None:
        policy.save(out_dir / POLICY_FILE)
    return RunResult(policy, evaluate(policy, env_kwargs), monitor, out_dir)


def _load_checkpoint(path: Path, name: str, spec: PolicySpec) -> dict[str, Any] | None:
    if not path.is_file():
        print(f"no checkpoint at {path}: training from scratch")
        return None
    try:
        saved = load_safe(path, kind="checkpoint")
    except CheckpointError as exc:
        print(f"{exc.problem}: training from scratch")
        return None
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} is not an emo-env agent checkpoint (expected {CHECKPOINT_FORMAT!r})")
    found = (saved["agent"], saved["obs_mode"], saved["obs_dim"], saved["num_classes"])
    wanted = (name, spec.obs_mode, spec.obs_dim, spec.num_classes)
    if found != wanted:
        raise CheckpointError(f"checkpoint {path} is for agent/obs_mode/obs_dim/classes {found}, "
                              f"this run needs {wanted}")
    return saved

