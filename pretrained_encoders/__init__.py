"""Audio, visual, fusion and temporal encoders: architectures, training, export, bundled weights."""
