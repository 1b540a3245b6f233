"""Registration of AVEmotion-v0 with Gymnasium (run by ``import emo_env``)."""

from __future__ import annotations

import dataclasses

import gymnasium as gym

from emo_env.envs.env_config import EnvConfig

__all__ = ["ENV_ID", "register_envs"]

ENV_ID = "AVEmotion-v0"


def register_envs() -> None:
    """Register ``AVEmotion-v0`` (and its vector entry point) unless it already is.

    The spec's kwargs hold every argument with its default (:class:`EnvConfig`'s settings, and no store,
    render mode or ingest folder), so ``gym.spec("AVEmotion-v0").kwargs`` lists them. There is no
    ``max_episode_steps``: every episode ends by itself with a decision at the latest at the
    clip's last step, and the longest clip depends on the store given to ``make``.
    """
    if ENV_ID in gym.registry:
        return
    defaults = {"store": None, **dataclasses.asdict(EnvConfig()), "render_mode": None, "ingest_dir": None}
    gym.register(
        id=ENV_ID,
        entry_point="emo_env.envs.av_emotion:AVEmotionEnv",
        vector_entry_point="emo_env.envs.vector:AVEmotionVectorEnv",
        max_episode_steps=None,
        kwargs=defaults,
    )
