"""The benchmark's grid: one task per (fold, agent, seed) or latency-cost sweep point, run in this process,
in local worker processes, or as Ray tasks on a Ray cluster.

A task carries plain values only (the store as a path, with a digest of its content), so it
travels to any worker; its result is the run's per-clip evaluation and its training record. A task
writes ``task.json`` (what decides its result) when it starts and ``result.json`` when it ends,
atomically and with a checksum, into its folder. Resumed, it reads a finished result back, continues
from the run's last checkpoint when ``task.json`` matches, and otherwise trains from scratch: a run
made with other settings, rewards or store, or whose records are damaged, is never reused.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from agents.registry import get_agent
from agents.training import run_agent
from emo_env.artifacts import ArtifactError, agent_folder, read_json_checked, write_json_checked
from emo_env.envs.episodes import open_store

__all__ = ["Task", "TaskResult", "store_digest", "run_task", "run_grid", "task_dir"]

RESULT_FILE = "result.json"
TASK_FILE = "task.json"


@dataclass(frozen=True)
class Task:
    """One training and held-out evaluation of ``agent`` on fold ``fold`` with ``seed``."""

    fold: str
    agent: str
    seed: int
    env_kwargs: dict[str, Any]  # AVEmotionEnv arguments; "store" is a path (None: the bundled store)
    settings: dict[str, Any]  # run_agent's hyperparameters, total_steps, checkpoint_every, eval_every, progress
    store_digest: str = ""  # the store's content (store_digest()): a rebuilt store is a new task
    device: str = "auto"
    threads: int = 1  # torch CPU threads of the task
    out_dir: str | None = None  # the run's folder (policy, checkpoints, TensorBoard, result.json)
    resume: bool = False  # reuse a finished result, or continue a started run, made with the same key
    label: str = field(default="", compare=False)  # what progress lines call the task


@dataclass(frozen=True)
class TaskResult:
    """What a task gives back: its per-clip held-out evaluation and training record."""

    task: Task
    episodes: pd.DataFrame  # agents.metrics.EPISODE_COLUMNS, one row per held-out clip
    train_time_s: float
    steps: int
    config: dict[str, Any]  # the policy's hyperparameters after training (a rule baseline's tuned values)
    reused: bool = False  # read back from an earlier invocation (resumed)


def task_dir(root: Path, *parts: object) -> Path:
    """``root/part/part/...`` with each part made safe as a folder name (``pkg.mod:Class`` -> ``pkg.mod_Class``)."""
    return root.joinpath(*(agent_folder(str(part)) for part in parts))


def store_digest(path: str | Path | None) -> str:
    """SHA-256 of a store file's bytes (``None``: the bundled store)."""
    return hashlib.sha256(Path(open_store(path).path).read_bytes()).hexdigest()


def run_task(task: Task) -> TaskResult:
    """Train and evaluate one task (in whichever process runs it), or read back its finished result."""
    out_dir = Path(task.out_dir) if task.out_dir else None
    key = _key(task)
    record = _read(out_dir / RESULT_FILE, task) if out_dir is not None and task.resume else {}
    if record.get("key") == key:
        return TaskResult(task, pd.DataFrame(record["episodes"]), record["train_time_s"], record["steps"],
                          record["config"], reused=True)
    started = out_dir is not None and task.resume and _read(out_dir / TASK_FILE, task).get("key") == key
    if out_dir is not None:
        write_json_checked(out_dir / TASK_FILE, {"key": key})
    threads = torch.get_num_threads()
    torch.set_num_threads(task.threads)
    try:
        run = run_agent(task.agent, env_kwargs=task.env_kwargs, seed=task.seed, device=task.device, out_dir=out_dir,
                        resume=started, **task.settings)
    finally:
        torch.set_num_threads(threads)
    result = TaskResult(task, run.evaluation.episodes, run.train_time_s, run.policy.num_steps,
                        asdict(run.policy.config))
    if out_dir is not None:
        write_json_checked(out_dir / RESULT_FILE, {
            "key": key, "train_time_s": result.train_time_s, "steps": result.steps, "config": result.config,
            "episodes": result.episodes.to_dict(orient="list")})
    return result


def _key(task: Task) -> Any:
    """What decides a task's result, as JSON values (progress, logging and resuming do not)."""
    budget = task.settings.get("total_steps")
    key = {"fold": task.fold, "agent": task.agent, "seed": task.seed, "env_kwargs": task.env_kwargs,
           "store_digest": task.store_digest, "device": task.device,
           "hyperparameters": task.settings.get("hyperparameters"),
           "total_steps": get_agent(task.agent).default_total_steps if budget is None else int(budget)}
    return json.loads(json.dumps(key, default=str))


def _read(path: Path, task: Task) -> dict[str, Any]:
    """The record at ``path``; empty when there is none, or when it is damaged (said in one line: the
    task then runs again, a damaged result is never read back as a figure)."""
    if not path.is_file():
        return {}
    try:
        return read_json_checked(path, "benchmark record")
    except ArtifactError as exc:
        print(f"{exc.problem}: running {task.label or task.agent} again", flush=True)
        return {}


def run_grid(tasks: Sequence[Task], *, workers: int = 1, ray_address: str | None = None,
             use_ray: bool = False) -> list[TaskResult]:
    """Run every task and return the results in task order: in this process (``workers=1``), in ``workers``
    local processes, or as Ray tasks (``use_ray``) on the cluster at ``ray_address`` (``None``: a local
    Ray instance, or the one ``RAY_ADDRESS`` names)."""
    if use_ray:
        return _run_on_ray(tasks, ray_address)
    if workers <= 1:
        return [_announce(task, i, len(tasks), run_task(task)) for i, task in enumerate(tasks)]
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(run_task, task) for task in tasks]
        try:
            return [_announce(task, i, len(tasks), future.result())
                    for i, (task, future) in enumerate(zip(tasks, futures, strict=True))]
        except BaseException:
            pool.shutdown(cancel_futures=True)  # a failed task stops the grid, not only at its end
            raise


def _run_on_ray(tasks: Sequence[Task], address: str | None) -> list[TaskResult]:
    try:
        import ray
    except ImportError:
        raise ImportError("--ray needs Ray: pip install 'emo-env[ray]'") from None
    # Workers find agents given as module:Class in the working directory, like this process does.
    path = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p)
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, runtime_env={"env_vars": {"PYTHONPATH": path}}, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1)(run_task)
        refs = [remote.remote(task) for task in tasks]
        return [_announce(task, i, len(tasks), ray.get(ref))
                for i, (task, ref) in enumerate(zip(tasks, refs, strict=True))]
    finally:
        if started:
            ray.shutdown()


def _announce(task: Task, index: int, total: int, result: TaskResult) -> TaskResult:
    episodes = result.episodes
    accuracy = (episodes["prediction"] == episodes["label"]).mean()
    print(f"[benchmark {index + 1}/{total}] {task.label or task.agent}: return {episodes['return'].mean():.3f}, "
          f"accuracy {100 * accuracy:.1f} %, earliness {100 * episodes['fraction'].mean():.1f} %", flush=True)
    return result
