"""RGB frames of an episode: face crop, log-mel window, class probabilities, decision timeline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emo_env.data.clip_file import read_clip_file
from emo_env.data.store import FeatureStore

__all__ = ["ClipRenderer"]

WIDTH, HEIGHT = 640, 400
_BG, _PANEL, _TEXT, _DIM = (24, 24, 28), (52, 52, 58), (235, 235, 235), (140, 140, 150)
_GOOD, _BAD, _NOW, _BAR = (70, 190, 90), (220, 70, 60), (240, 200, 60), (90, 140, 230)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class ClipRenderer:
    """Draws one step of a clip of ``store``; face crops and mel windows come from ``ingest_dir``
    (``clips/<clip_id>.npz`` of the ingest output, loaded when a clip is first drawn), else placeholders."""

    def __init__(self, store: FeatureStore, ingest_dir: str | Path | None = None) -> None:
        self.store = store
        self.ingest_dir = None if ingest_dir is None else Path(ingest_dir)
        if self.ingest_dir is not None and not self.ingest_dir.is_dir():
            raise FileNotFoundError(f"ingest_dir {self.ingest_dir} is not a folder")
        self._media: tuple[int, np.ndarray | None, np.ndarray | None] = (-1, None, None)

    def frame(self, clip: int, step: int, prediction: int | None) -> np.ndarray:
        """The ``[HEIGHT, WIDTH, 3]`` uint8 RGB frame of ``step`` of store clip ``clip``;
        ``prediction`` is the decided class (-1: illegal wait) once the episode has ended."""
        store = self.store
        length = int(store.lengths[clip])
        label = int(store.labels[clip])
        faces, mels = self._clip_media(clip)
        image = np.full((HEIGHT, WIDTH, 3), _BG, dtype=np.uint8)
        rate = store.step_rate
        _text(image, f"{store.clip_ids[clip]}  speaker {store.speakers[clip]}  step {step + 1}/{length}  "
                     f"{(step + 1) / rate:.1f}/{length / rate:.1f} s", (10, 22), _TEXT)
        verdict = "waiting" if prediction is None else (
            "wait at last step: wrong" if prediction < 0 else
            f"predicted {store.class_names[prediction]}: {'right' if prediction == label else 'wrong'}")
        colour = _DIM if prediction is None else (_GOOD if prediction == label else _BAD)
        _text(image, f"label {store.class_names[label]}  |  {verdict}", (10, 44), colour)
        _panel(image, (10, 56, 192, 192), None if faces is None else faces[step], "no face crop")
        _panel(image, (212, 56, 418, 192), None if mels is None else _mel_image(mels[step]), "no mel window")
        probs = np.asarray(store.features["probs"][store.offsets[clip] + step], dtype=np.float64)
        _bars(image, (10, 262, 620, 88), probs, store.class_names, label, prediction)
        _timeline(image, (10, 372, 620, 18), step, length, prediction, label)
        return image

    def _clip_media(self, clip: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self.ingest_dir is None:
            return None, None
        if self._media[0] != clip:
            path = self.ingest_dir / "clips" / f"{self.store.clip_ids[clip]}.npz"
            arrays = read_clip_file(path)
            faces, mels = arrays["faces"], arrays["mels"]
            steps = int(self.store.lengths[clip])
            if len(faces) != steps or len(mels) != steps:
                raise ValueError(f"{path} has {len(faces)} face crops and {len(mels)} mel windows, "
                                 f"the feature store has {steps} steps for this clip")
            self._media = (clip, faces, mels)
        return self._media[1], self._media[2]


def _text(image: np.ndarray, text: str, origin: tuple[int, int], colour: tuple[int, int, int],
          scale: float = 0.5) -> None:
    cv2.putText(image, text, origin, _FONT, scale, colour, 1, cv2.LINE_AA)


def _panel(image: np.ndarray, box: tuple[int, int, int, int], content: np.ndarray | None, missing: str) -> None:
    x, y, w, h = box
    if content is None:
        image[y:y + h, x:x + w] = _PANEL
        _text(image, missing, (x + 10, y + h // 2), _DIM)
    else:
        image[y:y + h, x:x + w] = cv2.resize(content, (w, h), interpolation=cv2.INTER_NEAREST)


def _mel_image(mel: np.ndarray) -> np.ndarray:
    """A ``[frames, bands]`` log-mel window as RGB, time left to right, low bands at the bottom."""
    mel = np.asarray(mel, dtype=np.float32).T[::-1]
    span = float(mel.max() - mel.min())
    grey = np.zeros(mel.shape, np.uint8) if span == 0 else ((mel - mel.min()) * (255 / span)).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)
    rgb[:, mel.shape[1] // 2] = _TEXT  # the step's time is the window centre
    return rgb


def _bars(image: np.ndarray, box: tuple[int, int, int, int], probs: np.ndarray, names: list[str],
          label: int, prediction: int | None) -> None:
    x, y, w, h = box
    width = w // len(probs)
    for k, p in enumerate(probs):
        left, base = x + k * width, y + h - 16
        top = base - int(round(p * (h - 16)))
        colour = _BAR if prediction is None or k != prediction else (_GOOD if k == label else _BAD)
        cv2.rectangle(image, (left + 6, y), (left + width - 6, base), _PANEL, -1)
        cv2.rectangle(image, (left + 6, top), (left + width - 6, base), colour, -1)
        if k == label:
            cv2.rectangle(image, (left + 4, y - 2), (left + width - 4, y + h - 14), _TEXT, 1)
        _text(image, f"{names[k][:10]} {p:.2f}", (left + 6, y + h), _TEXT, 0.4)


def _timeline(image: np.ndarray, box: tuple[int, int, int, int], step: int, length: int,
              prediction: int | None, label: int) -> None:
    x, y, w, h = box
    edges = np.linspace(x, x + w, length + 1).round().astype(int)
    for t in range(length):
        if t < step:
            colour = _DIM
        elif t == step:
            colour = _NOW if prediction is None else (_GOOD if prediction == label else _BAD)
        else:
            colour = _PANEL
        cv2.rectangle(image, (int(edges[t]), y), (int(edges[t + 1]) - 1, y + h), colour, -1)
