"""AVEmotionVectorEnv: N AVEmotion-v0 episodes stepped together with numpy array operations."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from emo_env.data.store import FeatureStore
from emo_env.envs.env_config import EnvConfig
from emo_env.envs.episodes import Episodes, open_store

__all__ = ["AVEmotionVectorEnv"]

_AUTORESET_MODES = (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED)
_STEP_KEYS = ("label", "step", "fraction", "action_mask", "clip_id", "speaker")


class AVEmotionVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` episodes of :class:`~emo_env.envs.av_emotion.AVEmotionEnv` as one batch.

    Same arguments, rewards, observations, action masks and info keys as the single env (see its
    docstring), stepped with array operations over all episodes at once. Infos are arrays with
    Gymnasium's ``_key`` masks: the per-step keys are present for every episode; ``is_correct``,
    ``prediction``, ``decision_step``, ``decision_time_s`` and ``earliness`` where the episode
    ended this step (zero elsewhere).

    ``autoreset_mode`` (also ``self.autoreset_mode`` and ``metadata["autoreset_mode"]``):
    ``AutoresetMode.NEXT_STEP`` (the default): the step after an episode terminates starts a new clip
    in that slot, ignoring its action and returning reward 0. ``AutoresetMode.DISABLED``: an ended
    slot waits for ``reset(options={"reset_mask": mask})``, which starts new clips in the slots where
    the boolean ``mask`` is true and leaves the others as they are (TorchRL's ``GymWrapper`` takes
    this mode); stepping an ended slot is an error.

    Clip draws come from ``self.np_random`` (``clip_order="random"``) or one sweep shared by all
    slots (``"sequential"``: the first ``n`` episodes started, counted across slots in slot order,
    visit each of the split's ``n`` clips exactly once).

    ``device``: ``None`` returns numpy arrays; a torch device (``"cpu"``, ``"cuda"``) returns
    torch tensors on it (strings stay numpy) and accepts torch actions. Stepping itself runs in
    numpy on the CPU; the device costs one host-to-device copy per output per step.
    ``render_mode`` and ``ingest_dir`` are accepted so the registered spec's arguments apply,
    but rendering is single-env only: ``render_mode`` must be ``None``.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int, store: str | Path | FeatureStore | None = None, *, render_mode: str | None = None,
                 ingest_dir: str | Path | None = None, device: Any = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **settings: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.autoreset_mode = _autoreset_mode(autoreset_mode)
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        if render_mode is not None:
            raise ValueError(f"AVEmotionVectorEnv does not render (render_mode={render_mode!r}); "
                             "render a single AVEmotionEnv instead")
        self.config = EnvConfig.from_kwargs(AVEmotionVectorEnv.__init__, **settings)
        self.episodes = Episodes(open_store(store), self.config)
        self.store = self.episodes.store
        self.num_envs = int(num_envs)
        self.single_observation_space = self.episodes.observation_space
        self.single_action_space = spaces.Discrete(self.episodes.num_actions)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None
        self.device = device
        self._torch = None
        if device is not None:
            import torch  # imported here: only needed for device placement

            self._torch, self.device = torch, torch.device(device)
        self._clip_ids = np.array(self.store.clip_ids)
        self._speakers = np.array(self.store.speakers)
        self._clip = np.zeros(self.num_envs, dtype=np.int64)
        self._row = np.zeros(self.num_envs, dtype=np.int64)
        self._ended = np.zeros(self.num_envs, dtype=bool)  # terminated last step: autoreset now
        self._cursor = 0
        self._started = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        options = dict(options or {})
        slots = self._reset_slots(options.pop("reset_mask", None))
        if options:
            raise ValueError(f"unknown reset options {sorted(options)} (known: reset_mask)")
        super().reset(seed=seed)
        if seed is not None:
            self._cursor = 0
        self._start(slots)
        self._ended[slots] = False
        self._started = True
        first = self._to_device((np.take(self.episodes.observations, self._row, axis=0), self._step_infos()))
        return cast(tuple[Any, dict[str, Any]], first)

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        if not self._started:
            raise RuntimeError("call reset() before step()")
        if self.autoreset_mode is AutoresetMode.DISABLED and self._ended.any():
            raise RuntimeError(f"env {int(np.argmax(self._ended))}: its episode has ended and autoreset_mode is "
                               "DISABLED: start new ones with reset(options={'reset_mask': mask})")
        actions = self._check_actions(actions)
        ep, rules = self.episodes, self.config
        row, restart = self._row, self._ended
        last = np.take(ep.is_last, row)
        advance = actions == 0
        if rules.last_step_wait == "error" and (illegal := advance & last & ~restart).any():
            i = int(np.argmax(illegal))
            raise ValueError(f"env {i}: action 0 (wait) is illegal at the last step of clip "
                             f"{self._clip_ids[self._clip[i]]!r}: infos['action_mask'] allows only predictions there")
        advance &= ~last
        advance &= ~restart
        decide = ~advance
        decide &= ~restart
        rewards = np.where(advance, np.take(ep.wait_reward, row), 0.0)
        # Decisions are usually a small part of the batch: work on their indices only.
        ended = np.flatnonzero(decide)
        ended_rows, prediction = row[ended], actions[ended] - 1
        correct = prediction == np.take(ep.row_label, ended_rows)
        rewards[ended] = np.where(correct, rules.correct_reward, rules.wrong_reward)
        end_infos = {"is_correct": correct, "prediction": prediction, "decision_step": np.take(ep.step, ended_rows),
                     "decision_time_s": np.take(ep.time_s, ended_rows), "earliness": np.take(ep.fraction, ended_rows)}
        if restart.any():
            self._start(np.flatnonzero(restart))
        self._row += advance
        self._ended = decide
        infos = self._step_infos()
        for key, values in end_infos.items():
            infos[key] = np.zeros(self.num_envs, dtype=values.dtype)
            infos[key][ended] = values
            infos[f"_{key}"] = decide.copy()
        obs = np.take(ep.observations, self._row, axis=0)
        outputs = self._to_device((obs, rewards, decide.copy(), np.zeros(self.num_envs, dtype=bool), infos))
        return cast(tuple[Any, Any, Any, Any, dict[str, Any]], outputs)

    def _reset_slots(self, reset_mask: Any) -> np.ndarray:
        """The slots a reset starts: all, or those where the boolean ``reset_mask`` is true."""
        if reset_mask is None:
            return np.arange(self.num_envs)
        if self._torch is not None and isinstance(reset_mask, self._torch.Tensor):
            reset_mask = reset_mask.cpu().numpy()
        mask = np.asarray(reset_mask)
        if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
            raise ValueError(f"reset option reset_mask must be a boolean array of shape ({self.num_envs},), "
                             f"got {mask.dtype} of shape {mask.shape}")
        if not self._started and not mask.all():
            raise RuntimeError("the first reset() starts every slot: call it without reset_mask")
        return np.flatnonzero(mask)

    def _start(self, slots: np.ndarray) -> None:
        clips, self._cursor = self.episodes.draw(self.np_random, len(slots), self._cursor)
        self._clip[slots] = clips
        self._row[slots] = self.episodes.offsets[clips]

    def _step_infos(self) -> dict[str, Any]:
        ep, row, clip = self.episodes, self._row, self._clip
        action_mask = np.ones((self.num_envs, ep.num_actions), dtype=np.int8)
        action_mask[:, 0] = ~np.take(ep.is_last, row)
        infos = {"label": np.take(ep.labels, clip), "step": np.take(ep.step, row),
                 "fraction": np.take(ep.fraction, row), "action_mask": action_mask,
                 "clip_id": np.take(self._clip_ids, clip), "speaker": np.take(self._speakers, clip)}
        for key in _STEP_KEYS:
            infos[f"_{key}"] = np.ones(self.num_envs, dtype=bool)
        return infos

    def _check_actions(self, actions: Any) -> np.ndarray:
        if self._torch is not None and isinstance(actions, self._torch.Tensor):
            actions = actions.detach().cpu().numpy()
        array = np.asarray(actions)
        if array.shape != (self.num_envs,) or array.dtype.kind not in "iu":
            raise ValueError(f"actions must be an integer array of shape ({self.num_envs},), "
                             f"got {array.dtype} of shape {array.shape}")
        if array.min() < 0 or array.max() >= self.episodes.num_actions:
            i = int(np.argmax((array < 0) | (array >= self.episodes.num_actions)))
            raise ValueError(f"env {i}: " + self.episodes.range_message(array[i]))
        checked: np.ndarray = array.astype(np.int64, copy=False)
        return checked

    def _to_device(self, value: Any) -> Any:
        """Numeric arrays as torch tensors on ``self.device`` (identity without a device)."""
        if self._torch is None:
            return value
        if isinstance(value, dict):
            return {key: self._to_device(item) for key, item in value.items()}
        if isinstance(value, tuple):
            return tuple(self._to_device(item) for item in value)
        if value.dtype.kind in "US":
            return value
        return self._torch.as_tensor(value, device=self.device)


def _autoreset_mode(value: AutoresetMode | str) -> AutoresetMode:
    """``value`` (a mode or its name, ``"NextStep"`` or ``"Disabled"``) as an ``AutoresetMode`` this env runs."""
    for mode in _AUTORESET_MODES:
        if value is mode or value == mode.value:
            return mode
    raise ValueError(f"autoreset_mode must be one of {[mode.value for mode in _AUTORESET_MODES]}, got {value!r}")
