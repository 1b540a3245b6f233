"""AVEmotion-v0: decide when to name the emotion of an audio-visual clip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from emo_env.data.store import FeatureStore
from emo_env.envs.env_config import EnvConfig
from emo_env.envs.episodes import Episodes, open_store

__all__ = ["AVEmotionEnv"]


class AVEmotionEnv(gym.Env[np.ndarray, np.int64]):
    """Online emotion recognition: watch a clip step by step and answer as early as is safe.

    ## Description

    One episode is one clip of a feature store (the per-step outputs of pretrained audio, visual,
    fusion and temporal encoders, see ``emo_env.data.store``). At every step (``store.step_rate``
    steps per second of video, 10 by default) the agent observes the current step's features and
    either waits for more evidence or names the clip's emotion, which ends the episode. Early steps
    are ambiguous and evidence accumulates, so the agent trades accuracy against latency.

    ## Action Space

    ``Discrete(K + 1)`` for the store's ``K`` classes (``store.class_names``, RML order by default:
    happy, surprise, sad, fear, anger, disgust): ``0`` = wait, ``1 + k`` = predict class ``k``.
    At the last step of a clip only predictions are legal (see ``info["action_mask"]``). An action
    outside ``[0, K]`` or not an integer raises an error.

    ## Observation Space

    A ``float32`` vector, by ``obs_mode`` (built by ``emo_env.envs.observations.build_observation``,
    which online inference shares), ending with the time observed, ``min((t + 1) / horizon, 1)`` at
    step ``t``, where ``horizon`` is the store's longest clip in steps. It is deliberately not the
    fraction of *this* clip ``(t + 1) / T``: a live speaker does not announce how long the utterance
    will last, so the observation must not reveal ``T`` (``info["fraction"]`` gives it for analysis).

    | obs_mode | parts                                                        | bounds                        |
    |----------|--------------------------------------------------------------|-------------------------------|
    | probs    | class probabilities [K], time                                | [0, 1], [0, 1]                |
    | belief   | voice's probs [K], face's probs [K], probs [K], time         | [0, 1], [0, 1]                |
    | frame    | front-end features of ``modality`` (voice [38], face [135]), time | store min/max per dim, [0, 1] |

    ``probs`` (the default) are the calibrated class probabilities of the temporal model of the store's
    modality; ``belief`` adds those of the voice's and of the face's own temporal models (also
    calibrated), which say which modality the evidence comes from. ``frame`` gives the step's raw
    evidence: voice descriptors (``audio``), the FER2013 face network's features (``visual``) or both
    (``fusion``); it needs an agent with memory. Every part means the same on every clip: the
    probabilities are calibrated beliefs about the same classes, and the front ends are fixed networks,
    never trained in a fold (the cascades' own embeddings and LSTM states, which differ from cascade
    to cascade, are not observations). Front-end features have no natural range, so their bounds are
    the store's per-dimension min and max over all splits (identical for train and eval envs).

    ## Rewards

    - predicting the clip's label: ``correct_reward`` (+1); any other class: ``wrong_reward`` (-1);
    - waiting at step ``t``: ``-latency_cost * ((t + 1) / T) ** latency_power``. The default
      ``latency_cost=0.005`` with ``latency_power=0`` costs 0.05 per second of video at 10 steps/s,
      so waiting through a whole 2-4 s clip costs 0.1-0.2, a fifth of a correct answer or less:
      waiting pays while it raises the chance of being right. ``latency_power > 0`` makes
      early waits cheap and late ones dear (time-dependent cost of early classification);
    - a wait at the last step, which the mask forbids, counts as a wrong prediction
      (``last_step_wait="wrong"``, reward ``wrong_reward``) or raises (``"error"``).

    ## Starting State

    A clip of ``split``: drawn uniformly with replacement from ``self.np_random``
    (``clip_order="random"``), or the split's clips in store order, wrapping around
    (``"sequential"``: ``n`` consecutive episodes visit each of the ``n`` clips exactly once;
    a seeded reset restarts the sweep). ``reset(options={"clip_id": ID})`` starts that clip.
    The first observation is the clip's first step.

    ## Episode End

    Terminated when the agent predicts; the last step of a clip forces a prediction, so every
    episode ends with exactly one decision after at most ``T`` steps. Never truncated, so the
    registered spec has no ``max_episode_steps`` (a time limit could only cut an episode before
    its decision, and the longest clip depends on the store).

    ``info`` every step: ``label`` (class index), ``step`` (0-based), ``fraction`` observed,
    ``action_mask`` (``np.int8 [K + 1]``, usable with ``action_space.sample(mask=...)``; the same as
    booleans from ``action_masks()``, which sb3-contrib's MaskablePPO calls),
    ``clip_id``, ``speaker``; at the end also ``is_correct``, ``prediction`` (class index, -1 for
    a wait at the last step), ``decision_step``, ``decision_time_s`` (seconds of the clip
    observed, ``(decision_step + 1) / step_rate``) and ``earliness`` (fraction observed).

    ## Arguments

    ```python
    gym.make("AVEmotion-v0", store=None, split="train", obs_mode="probs", modality=None,
             clip_order="random", correct_reward=1.0, wrong_reward=-1.0, latency_cost=0.005,
             latency_power=0.0, last_step_wait="wrong", render_mode=None, ingest_dir=None)
    ```

    - ``store``: feature store path or loaded ``FeatureStore``; ``None`` = the bundled store of
      the synthetic corpus (``emo_env.artifacts.bundled_store_path()``).
    - ``split``: ``"train"`` (clips of the seen speakers, beliefs exported out-of-fold),
      ``"eval"`` (the held-out speaker) or ``"all"``.
    - ``obs_mode``: ``"probs"``, ``"belief"`` or ``"frame"``; ``modality``: the ``"audio"``,
      ``"visual"`` or ``"fusion"`` front-end features for ``frame`` (default: the store's modality;
      ``belief`` and ``probs`` exist only for the store's modality).
    - ``clip_order``, rewards and ``last_step_wait``: see above.
    - ``render_mode``: ``None`` or ``"rgb_array"`` (640x400 frames: face crop, log-mel window,
      class probability bars, decision timeline); ``ingest_dir``: the ingest output folder
      whose ``clips/<clip_id>.npz`` provide face crops and mel windows (else placeholders).

    ## Vectorized environment

    ``gym.make_vec("AVEmotion-v0", num_envs=N, vectorization_mode="vector_entry_point")``
    returns ``emo_env.envs.vector.AVEmotionVectorEnv``, which steps all ``N`` episodes with
    numpy array operations and can return torch tensors on a device. Autoreset is next-step, or
    disabled with ``autoreset_mode=gym.vector.AutoresetMode.DISABLED`` (ended slots restart by
    ``reset(options={"reset_mask": mask})``, as TorchRL's ``GymWrapper`` asks).

    ## Version History

    - v0: initial version. Since 0.3.0 the default ``obs_mode`` is ``probs``; ``belief`` holds each
      modality's probabilities instead of the LSTM state and ``frame`` the front ends' features instead of
      a cascade's embedding (stores written before 0.3.0 serve ``probs`` only).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, store: str | Path | FeatureStore | None = None, *, render_mode: str | None = None,
                 ingest_dir: str | Path | None = None, **settings: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.config = config = EnvConfig.from_kwargs(AVEmotionEnv.__init__, **settings)
        self.episodes = Episodes(open_store(store), config)
        self.store = self.episodes.store
        self.observation_space = self.episodes.observation_space
        self.action_space = spaces.Discrete(self.episodes.num_actions)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": self.store.step_rate}
        self._renderer = None
        if render_mode is not None:
            from emo_env.envs.rendering import ClipRenderer  # imported here: OpenCV is only needed to render

            self._renderer = ClipRenderer(self.store, ingest_dir)
        # Per-row tables as Python lists: indexing them is the cheapest per-step lookup.
        self._fraction = self.episodes.fraction.tolist()
        self._wait_reward = self.episodes.wait_reward.tolist()
        self._time_s = self.episodes.time_s.tolist()
        self._mask_wait, self._mask_last = self.episodes.masks
        self._correct_reward, self._wrong_reward = config.correct_reward, config.wrong_reward
        self._cursor = 0
        self._row = -1  # no episode before the first reset
        self._prediction: int | None = None

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._cursor = 0
        options = dict(options or {})
        clip_id = options.pop("clip_id", None)
        if options:
            raise ValueError(f"unknown reset options {sorted(options)} (known: clip_id)")
        if clip_id is None:
            clips, self._cursor = self.episodes.draw(self.np_random, 1, self._cursor)
            clip = int(clips[0])
        else:
            clip = self._clip_index(clip_id)
        store = self.store
        self._clip = clip
        self._start = self._row = int(store.offsets[clip])
        self._last = int(store.offsets[clip + 1]) - 1
        self._label = int(store.labels[clip])
        self._clip_id, self._speaker = store.clip_ids[clip], store.speakers[clip]
        self._prediction = None
        return self.episodes.observations[self._row].copy(), self._info()

    def step(self, action: int | np.integer) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._row < 0 or self._prediction is not None:
            reason = "no episode has started" if self._row < 0 else "the episode has ended"
            raise RuntimeError(f"call reset() before step(): {reason}")
        action = self.episodes.check_action(action)
        row = self._row
        if action == 0 and row != self._last:
            self._row = row + 1
            return self.episodes.observations[row + 1].copy(), self._wait_reward[row], False, False, self._info()
        if action == 0 and self.config.last_step_wait == "error":
            raise ValueError(f"action 0 (wait) is illegal at the last step of clip {self._clip_id!r}: "
                             "info['action_mask'] allows only predictions there")
        self._prediction = prediction = action - 1
        correct = prediction == self._label
        info = self._info()
        info.update(is_correct=correct, prediction=prediction, decision_step=row - self._start,
                    decision_time_s=self._time_s[row], earliness=self._fraction[row])
        reward = self._correct_reward if correct else self._wrong_reward
        return self.episodes.observations[row].copy(), reward, True, False, info

    def render(self) -> np.ndarray | None:
        """The current step as an RGB frame (``render_mode="rgb_array"``)."""
        if self._renderer is None:
            gym.logger.warn("render() called without a render_mode; make the env with render_mode='rgb_array'")
            return None
        if self._row < 0:
            raise RuntimeError("call reset() before render()")
        return self._renderer.frame(self._clip, self._row - self._start, self._prediction)

    def action_masks(self) -> np.ndarray:
        """The current step's legal actions as booleans: ``info["action_mask"]``, under the name that
        sb3-contrib's MaskablePPO asks an env for."""
        if self._row < 0:
            raise RuntimeError("call reset() before action_masks()")
        return self._mask().astype(bool)

    def _info(self) -> dict[str, Any]:
        row = self._row
        return {"label": self._label, "step": row - self._start, "fraction": self._fraction[row],
                "action_mask": self._mask().copy(),
                "clip_id": self._clip_id, "speaker": self._speaker}

    def _mask(self) -> np.ndarray:
        return self._mask_last if self._row == self._last else self._mask_wait

    def _clip_index(self, clip_id: str) -> int:
        try:
            clip = self.store.clip_ids.index(clip_id)
        except ValueError:
            raise ValueError(f"reset option clip_id={clip_id!r}: no such clip in {self.store.path}") from None
        if clip not in self.episodes.clips:
            raise ValueError(f"reset option clip_id={clip_id!r} is not in split {self.config.split!r}")
        return clip
