"""Online recognition: feed video frames and audio samples as they arrive (a file or a camera) and get
the emotion as soon as the policy is confident, from the encoders and policy of a training run.

``python -m emo_online VIDEO`` plays a file (or a camera) through :class:`OnlineRecognizer`.
"""

from .recognizer import Decision, OnlineRecognizer, PolicyLike, StepRecord

__all__ = ["Decision", "OnlineRecognizer", "PolicyLike", "StepRecord"]
