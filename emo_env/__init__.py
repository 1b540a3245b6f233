"""emo-env: online audio-visual emotion recognition as a Gymnasium environment."""

__version__ = "0.3.0"

from emo_env.envs.registration import register_envs

register_envs()
