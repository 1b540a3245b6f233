"""Shared fixtures."""

from pathlib import Path

import numpy as np
import pytest

from emo_env.data.store import write_store

RML_CLASSES = ["happy", "surprise", "sad", "fear", "anger", "disgust"]


def write_fabricated_store(path: Path, *, seed: int = 0, speakers: int = 3, clips_per_class: int = 2,
                           min_steps: int = 4, max_steps: int = 14, voice_dim: int = 5, face_dim: int = 7) -> Path:
    """A small feature store whose features carry the label noisily, growing with time (never the label itself).

    Per clip: class logits = evidence ramp towards the label (clip-specific strength, sometimes a
    confusable second class) + Gaussian noise; probs = softmax; each modality's probs = softmax of the
    logits plus more noise; voice/face front-end features = noisy class prototypes scaled by the ramp.
    The last speaker is the eval split.
    """
    rng = np.random.default_rng(seed)
    k = len(RML_CLASSES)
    prototypes = {"voice": rng.normal(0, 1, (k, voice_dim)), "face": rng.normal(0, 1, (k, face_dim))}
    clip_ids, clip_speakers, labels, lengths, split = [], [], [], [], []
    features: dict[str, list[np.ndarray]] = {
        name: [] for name in ("probs", "probs_audio", "probs_visual", "voice", "face")}
    for s in range(1, speakers + 1):
        for label, name in enumerate(RML_CLASSES):
            for c in range(clips_per_class):
                steps = int(rng.integers(min_steps, max_steps + 1))
                ramp = np.arange(1, steps + 1)[:, None] / steps
                target = np.eye(k)[label] * rng.uniform(1.0, 4.0)
                if rng.random() < 0.3:
                    target = target + np.eye(k)[(label + 1) % k] * rng.uniform(0.5, 3.0)
                logits = ramp * target + rng.normal(0, 0.8, (steps, k))
                for part, noise in (("probs", 0.0), ("probs_audio", 1.0), ("probs_visual", 0.7)):
                    noisy = logits + rng.normal(0, noise, (steps, k)) if noise else logits
                    probs = np.exp(noisy - noisy.max(axis=1, keepdims=True))
                    features[part].append(probs / probs.sum(axis=1, keepdims=True))
                for modality, table in prototypes.items():
                    features[modality].append(ramp * table[label] + rng.normal(0, 1, (steps, table.shape[1])))
                clip_ids.append(f"s{s}_{name}_{c:02d}")
                clip_speakers.append(f"s{s}")
                labels.append(label)
                lengths.append(steps)
                split.append(int(s == speakers))
    return write_store(
        path, class_names=RML_CLASSES, step_rate=10.0, modality="fusion", clip_ids=clip_ids,
        speakers=clip_speakers, labels=labels, split=split, lengths=lengths,
        features={name: np.concatenate(rows).astype(np.float32) for name, rows in features.items()},
        metadata={"fabricated": True, "seed": seed})


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory) -> Path:
    """Path of a fabricated feature store: 3 speakers x 6 classes x 2 clips of 4-14 steps, s3 held out."""
    return write_fabricated_store(tmp_path_factory.mktemp("store") / "tiny.emostore")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Root of a tiny generated corpus: 3 speakers x 6 emotions x 1 clip of 1.5-2 s."""
    from emo_env.data.synthetic import generate_corpus

    return generate_corpus(tmp_path_factory.mktemp("corpus"), seed=0, speakers=3, clips_per_emotion=1,
                           min_duration_s=1.5, max_duration_s=2.0, workers=1)


@pytest.fixture(scope="session")
def tiny_ingest(tiny_corpus, tmp_path_factory) -> Path:
    """The ingest folder of ``tiny_corpus``: default parameters, one process, LOSO folds."""
    from emo_env.config import default_config
    from emo_env.data.prepare import ingest_from_config

    config = default_config()
    config["data"].update(root=str(tiny_corpus), ingest_dir=str(tmp_path_factory.mktemp("ingest")), workers=1)
    return ingest_from_config(config, progress=False).ingest_dir


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small networks run fastest on one thread; the module's previous thread count is restored."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
