"""emo-env: online audio-visual emotion recognition as a Gymnasium environment."""

__version__ = "0.1.0"
