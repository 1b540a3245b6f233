"""What a learning agent reports to while it trains: progress bar, TensorBoard, learning curve, checkpoints.

Agents call :meth:`Monitor.on_step` (the interface, defined in :mod:`agents.policy`) once per (vector)
step with the episodes that just finished (arrays ``return``, ``correct``, ``fraction``) and their
training scalars; the monitor decides what to show, log, record and checkpoint, so agents carry none
of that code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agents.policy import Monitor, Policy
from emo_env.artifacts import save_atomic
from emo_env.optional import tensorboard_writer

__all__ = ["CHECKPOINT_FORMAT", "Monitor", "TrainingMonitor"]

CHECKPOINT_FORMAT = "emo-env-agent-checkpoint/1"
EPISODE_STATS = ("return", "correct", "fraction")


class TrainingMonitor(Monitor):
    """Progress bar with running metrics, TensorBoard scalars, learning curve, periodic checkpoints and evaluations.

    ``evaluate(policy) -> dict`` runs every ``eval_every`` steps; its time is not counted in
    :attr:`train_time_s`, the time spent training as measured by ``clock`` (wall time by default;
    ``time.process_time`` discounts other load on a shared machine).
    """

    def __init__(self, total_steps: int, *, progress: bool = True, log_dir: str | Path | None = None,
                 checkpoint_path: str | Path | None = None, checkpoint_every: int = 0,
                 curve_points: int = 100, window: int = 500,
                 evaluate: Callable[[Policy], dict[str, float]] | None = None, eval_every: int = 0,
                 state: Mapping[str, Any] | None = None, run_info: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.total_steps = total_steps
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.checkpoint_every = checkpoint_every
        self.curve_every = max(1, total_steps // max(1, curve_points))
        self.evaluate, self.eval_every = evaluate, eval_every
        self.run_info = dict(run_info or {})
        self._window = {name: np.zeros(window) for name in EPISODE_STATS}
        self._seen = 0
        state = dict(state or {})
        #: Learning curve: one row per point, running means over the last ``window`` episodes.
        self.curve: list[dict[str, float]] = list(state.get("curve", []))
        #: Periodic evaluations: one row per evaluation, with the training time it was reached at.
        self.evaluations: list[dict[str, float]] = list(state.get("evaluations", []))
        self.episodes = int(state.get("episodes", 0))
        self.train_time_s = float(state.get("train_time_s", 0.0))
        # the steps of the next curve point, checkpoint and evaluation; scheduled on the first on_step
        self._next_curve: int | None = None
        self._next_checkpoint: int | None = None
        self._next_eval: int | None = None
        self._scalars: dict[str, Any] = {}
        self._writer = self._bar = None
        if log_dir is not None:
            self._writer = tensorboard_writer(log_dir)
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total_steps, unit="step", dynamic_ncols=True, smoothing=0.1)
        self.clock = clock
        self._clock = clock()

    # -- the hook ----------------------------------------------------------------------------------
    def on_step(self, policy: Policy, finished: Mapping[str, np.ndarray] | None,
                scalars: Mapping[str, Any]) -> None:
        step = policy.num_steps
        if self._next_curve is None:  # first call: schedule from where training (re)starts
            self._next_curve = self._after(step, self.curve_every)
            self._next_checkpoint = self._after(step, self.checkpoint_every)
            self._next_eval = self._after(step, self.eval_every)
            if self._bar is not None:
                self._bar.update(step - self._bar.n)
        assert self._next_checkpoint is not None and self._next_eval is not None  # scheduled with _next_curve
        if finished and len(finished["return"]):
            self._record(finished)
        self._scalars.update(scalars)
        if self._bar is not None:
            self._bar.update(step - self._bar.n)
        if step >= self._next_curve:
            self._next_curve = self._after(step, self.curve_every)
            self._log_point(step)
        if self.evaluate is not None and self.eval_every and step >= self._next_eval:
            self._next_eval = self._after(step, self.eval_every)
            self.run_evaluation(policy)
        if self.checkpoint_path is not None and self.checkpoint_every and step >= self._next_checkpoint:
            self._next_checkpoint = self._after(step, self.checkpoint_every)
            self.save_checkpoint(policy)

    # -- running metrics ---------------------------------------------------------------------------
    def running(self) -> dict[str, float]:
        """Means over the last finished episodes (empty before the first one)."""
        n = min(self._seen, len(self._window["return"]))
        if n == 0:
            return {}
        return {name: float(values[:n].mean()) for name, values in self._window.items()}

    def _record(self, finished: Mapping[str, np.ndarray]) -> None:
        size = len(self._window["return"])
        count = len(finished["return"])
        index = (self._seen + np.arange(count)) % size
        for name in EPISODE_STATS:
            self._window[name][index] = np.asarray(finished[name], dtype=np.float64)
        self._seen += count
        self.episodes += count

    def _log_point(self, step: int) -> None:
        self._tick()
        running = self.running()
        scalars = {k: float(v) for k, v in self._scalars.items()}
        if running:
            self.curve.append({"step": step, "time_s": self.train_time_s, "episodes": self.episodes, **running})
        if self._writer is not None:
            for name, value in {**{f"train/{k}": v for k, v in running.items()},
                                **{f"train/{k}": v for k, v in scalars.items()}}.items():
                self._writer.add_scalar(name, value, step)
        if self._bar is not None:
            shown = {"ret": running.get("return"), "acc": running.get("correct"), "early": running.get("fraction"),
                     **{k[:5]: v for k, v in scalars.items()}}
            self._bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items() if v is not None}, refresh=False)

    # -- evaluation and checkpoints ----------------------------------------------------------------
    def run_evaluation(self, policy: Policy) -> dict[str, float]:
        """Evaluate now (not counted as training time) and record the result."""
        assert self.evaluate is not None
        self._tick()
        result = {"step": policy.num_steps, "time_s": self.train_time_s, **self.evaluate(policy)}
        self.evaluations.append(result)
        if self._writer is not None:
            for name, value in result.items():
                if name not in ("step", "time_s"):
                    self._writer.add_scalar(f"eval/{name}", value, policy.num_steps)
        self._clock = self.clock()
        return result

    def state(self) -> dict[str, Any]:
        """The monitor's own state, stored in checkpoints so a resumed run keeps its curve."""
        return {"curve": self.curve, "evaluations": self.evaluations, "episodes": self.episodes,
                "train_time_s": self.train_time_s}

    def save_checkpoint(self, policy: Policy) -> Path:
        """Write a resumable checkpoint of ``policy`` and this monitor atomically."""
        assert self.checkpoint_path is not None
        self._tick()
        payload = {"format": CHECKPOINT_FORMAT, **policy.describe(), "seed": policy.seed, "run": self.run_info,
                   "agent_state": policy.checkpoint_state(), "monitor": self.state()}
        path = save_atomic(payload, self.checkpoint_path)
        self._clock = self.clock()
        return path

    def close(self) -> None:
        self._tick()
        if self._bar is not None:
            self._bar.close()
        if self._writer is not None:
            self._writer.close()

    def _tick(self) -> None:
        now = self.clock()
        self.train_time_s += now - self._clock
        self._clock = now

    @staticmethod
    def _after(step: int, every: int) -> int:
        return (step // every + 1) * every if every > 0 else np.iinfo(np.int64).max
