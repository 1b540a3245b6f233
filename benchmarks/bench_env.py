"""Steps per second of AVEmotion-v0, each against a reference measured in the same run.

- single env (raw, and through ``gym.make``'s checker wrappers) vs a minimal pure-Python env of
  the same logic (builds each observation from the store rows, Python reward logic, same infos);
- the vectorized env at N = 1, 64, 1024, 8192 vs a lean numpy loop of the same transitions
  (observation gather, rewards, next-step autoreset; no infos, masks or checks).

Both sides get the same pre-drawn actions (90 % waits, else a random class). Each figure is
the best of ``--repeats`` timed runs, timed in CPU seconds of this process (``time.process_time``;
numpy runs single-threaded here), so that other load on a shared machine does not count. Usage::

    python benchmarks/bench_env.py [--store PATH] [--obs-mode belief] [--seconds 1.0] [--repeats 3]

Without ``--store`` it uses the bundled store, or, if that has not been built, a random store
of the default corpus's shape (480 clips of 20-40 steps, 64-dim hidden state and embeddings).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

from emo_env.artifacts import bundled_store_path
from emo_env.data.store import FeatureStore, load_store, write_store
from emo_env.envs import AVEmotionEnv, AVEmotionVectorEnv

WAIT_PROBABILITY = 0.9


class ReferenceEnv:
    """The env's logic written plainly: per-step observation concatenation, Python branches."""

    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        self.clips = store.clip_indices("train").tolist()
        self.offsets = store.offsets.tolist()
        self.labels = store.labels.tolist()
        self.hidden, self.probs = store.features["hidden"], store.features["probs"]
        self.rng = np.random.default_rng()
        self.k = store.num_classes

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.clip = self.clips[int(self.rng.integers(len(self.clips)))]
        self.t, self.length = 0, self.offsets[self.clip + 1] - self.offsets[self.clip]
        return self._obs(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not 0 <= action <= self.k:
            raise ValueError(f"action {action} out of range")
        if action == 0 and self.t < self.length - 1:
            self.t += 1
            return self._obs(), -0.005, False, False, self._info()
        correct = action - 1 == self.labels[self.clip]
        info = self._info()
        info.update(is_correct=correct, prediction=action - 1, decision_step=self.t,
                    decision_time_s=(self.t + 1) / self.store.step_rate, earliness=(self.t + 1) / self.length)
        return self._obs(), 1.0 if correct else -1.0, True, False, info

    def _obs(self) -> np.ndarray:
        row = self.offsets[self.clip] + self.t
        return np.concatenate([self.hidden[row], self.probs[row], [(self.t + 1) / self.length]]).astype(np.float32)

    def _info(self) -> dict:
        mask = np.ones(self.k + 1, dtype=np.int8)
        mask[0] = self.t < self.length - 1
        return {"label": self.labels[self.clip], "step": self.t, "fraction": (self.t + 1) / self.length,
                "action_mask": mask, "clip_id": self.store.clip_ids[self.clip],
                "speaker": self.store.speakers[self.clip]}


class LeanVectorLoop:
    """The vectorized transitions in as few numpy operations as possible (the speed reference)."""

    def __init__(self, env: AVEmotionVectorEnv, num_envs: int, seed: int = 0) -> None:
        ep = env.episodes
        self.obs, self.is_last = ep.observations, ep.is_last
        self.row_label, self.wait_reward = ep.row_label, ep.wait_reward
        self.starts, self.rng = ep.offsets[ep.clips], np.random.default_rng(seed)
        self.row = self.starts[self.rng.integers(len(self.starts), size=num_envs)]
        self.ended = np.zeros(num_envs, dtype=bool)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        row, ended = self.row, self.ended
        wait = actions == 0
        advance = wait & ~ended & ~np.take(self.is_last, row)
        decide = ~ended & ~advance
        rewards = np.where(advance, np.take(self.wait_reward, row),
                           np.where(actions - 1 == np.take(self.row_label, row), 1.0, -1.0)) * ~ended
        restart = np.flatnonzero(ended)
        row = row + advance
        row[restart] = self.starts[self.rng.integers(len(self.starts), size=len(restart))]
        self.row, self.ended = row, decide
        return np.take(self.obs, row, axis=0), rewards, decide


def best_rate(run: Callable[[int], None], steps_per_call: int, seconds: float, repeats: int) -> float:
    """Best steps per second over ``repeats`` runs of about ``seconds`` each."""
    calls = 1
    while True:  # calibrate the number of calls to about a tenth of the budget
        start = time.process_time()
        run(calls)
        if time.process_time() - start > seconds / 10:
            break
        calls *= 2
    calls = max(1, int(calls * seconds / max(time.process_time() - start, 1e-9)))
    best = 0.0
    for _ in range(repeats):
        start = time.process_time()
        run(calls)
        best = max(best, calls * steps_per_call / max(time.process_time() - start, 1e-9))
    return best


def single_runner(env, actions: list[int]) -> Callable[[int], None]:
    env.reset(seed=0)
    position = [0]

    def run(calls: int) -> None:
        i = position[0]
        for _ in range(calls):
            i = (i + 1) % len(actions)
            if env.step(actions[i])[2]:
                env.reset()
        position[0] = i

    return run


def vector_runner(step: Callable[[np.ndarray], object], actions: list[np.ndarray]) -> Callable[[int], None]:
    def run(calls: int) -> None:
        for i in range(calls):
            step(actions[i % len(actions)])

    return run


def random_store(path: Path, seed: int = 0) -> Path:
    """A store of the default corpus's shape with random features (speed depends on shape only)."""
    rng = np.random.default_rng(seed)
    clips, classes = 480, ["happy", "surprise", "sad", "fear", "anger", "disgust"]
    lengths = rng.integers(20, 41, clips)
    rows = int(lengths.sum())
    probs = rng.random((rows, len(classes)))
    features = {"hidden": np.tanh(rng.normal(size=(rows, 64))), "probs": probs / probs.sum(axis=1, keepdims=True),
                **{name: rng.normal(size=(rows, 64)) for name in ("audio", "visual", "fusion")}}
    speakers = [f"s{i % 8 + 1}" for i in range(clips)]
    return write_store(path, class_names=classes, step_rate=10.0, modality="fusion",
                       clip_ids=[f"{s}_clip_{i:03d}" for i, s in enumerate(speakers)], speakers=speakers,
                       labels=rng.integers(0, len(classes), clips), split=[int(s == "s8") for s in speakers],
                       lengths=lengths, features={k: v.astype(np.float32) for k, v in features.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--obs-mode", default="belief", choices=["belief", "frame", "probs"])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 1024, 8192])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path, source = args.store, "given"
        if path is None:
            path, source = bundled_store_path(), "bundled"
            if not path.is_file():
                path, source = random_store(Path(tmp) / "random.emostore"), "random, default-corpus shape"
        store = load_store(path)
        print(f"store: {path.name} ({source}): {store.num_clips} clips, {int(store.offsets[-1])} steps, "
              f"obs_mode={args.obs_mode}")
        rng = np.random.default_rng(0)
        k = store.num_classes
        actions = np.where(rng.random(100_000) < WAIT_PROBABILITY, 0, rng.integers(1, k + 1, 100_000)).tolist()

        print("\nsingle env                     steps/s      vs reference")
        reference = best_rate(single_runner(ReferenceEnv(store), actions), 1, args.seconds, args.repeats)
        rows = [("pure-Python reference env", reference),
                ("AVEmotionEnv", best_rate(single_runner(AVEmotionEnv(store=store, obs_mode=args.obs_mode), actions),
                                           1, args.seconds, args.repeats)),
                ("gym.make('AVEmotion-v0')", best_rate(single_runner(
                    gym.make("AVEmotion-v0", store=store, obs_mode=args.obs_mode), actions),
                    1, args.seconds, args.repeats))]
        for name, rate in rows:
            print(f"{name:28s} {rate:12,.0f}   {rate / reference:8.2f}x")

        print("\nvectorized env   N    env steps/s    numpy loop steps/s   env/loop")
        for n in args.sizes:
            batches = [np.where(rng.random(n) < WAIT_PROBABILITY, 0, rng.integers(1, k + 1, n)) for _ in range(64)]
            envs = AVEmotionVectorEnv(n, store=store, obs_mode=args.obs_mode)
            envs.reset(seed=0)
            env_rate = best_rate(vector_runner(envs.step, batches), n, args.seconds, args.repeats)
            loop_rate = best_rate(vector_runner(LeanVectorLoop(envs, n).step, batches), n, args.seconds, args.repeats)
            print(f"{n:19d} {env_rate:14,.0f} {loop_rate:20,.0f}   {env_rate / loop_rate:8.2f}")


if __name__ == "__main__":
    main()
