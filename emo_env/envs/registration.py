"""Registration of AVEmotion-v0 with Gymnasium (run by ``import emo_env``)."""

from __future__ import annotations

import inspect

import gymnasium as gym

from emo_env.envs.av_emotion import AVEmotionEnv

__all__ = ["ENV_ID", "register_envs"]

ENV_ID = "AVEmotion-v0"


def register_envs() -> None:
    """Register ``AVEmotion-v0`` (and its vector entry point) unless it already is.

    The spec's kwargs hold every constructor argument with its default. There is no
    ``max_episode_steps``: every episode ends by itself with a decision at the latest at the
    clip's last step, and the longest clip depends on the store given to ``make``.
    """
    if ENV_ID in gym.registry:
        return
    defaults = {name: parameter.default
                for name, parameter in inspect.signature(AVEmotionEnv.__init__).parameters.items() if name != "self"}
    gym.register(
        id=ENV_ID,
        entry_point="emo_env.envs.av_emotion:AVEmotionEnv",
        vector_entry_point="emo_env.envs.vector:AVEmotionVectorEnv",
        max_episode_steps=None,
        kwargs=defaults,
    )
