"""AVEmotion-v0 and its vectorized twin."""

from emo_env.envs.av_emotion import AVEmotionEnv
from emo_env.envs.env_config import OBS_MODES, EnvConfig
from emo_env.envs.observations import build_observation
from emo_env.envs.registration import ENV_ID, register_envs
from emo_env.envs.vector import AVEmotionVectorEnv

__all__ = ["AVEmotionEnv", "AVEmotionVectorEnv", "EnvConfig", "ENV_ID", "OBS_MODES", "build_observation",
           "register_envs"]
