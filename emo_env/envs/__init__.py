"""AVEmotion-v0 and its vectorized twin."""
