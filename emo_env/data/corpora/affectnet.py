"""AffectNet: face images with expression labels, for pretraining the visual encoder only.

AffectNet is a frame-level image set, not a clip corpus, so it has its own API rather than a
clip adapter: :func:`discover_images` lists (image, face box, label) and :func:`load_face`
crops one face.

Layout assumed (as distributed): a label CSV (``Manually_Annotated_file_lists/training.csv``;
``validation.csv`` for the other split) with the columns ``subDirectory_filePath, face_x,
face_y, face_width, face_height, facial_landmarks, expression, valence, arousal``, and the image
folder (``Manually_Annotated_Images``) holding ``subDirectory_filePath``. Expression codes and
their default mapping (names are the keys of ``data.label_map``): 0 neutral -> neutral,
1 happy -> happy, 2 sad -> sad, 3 surprise -> surprise, 4 fear -> fear, 5 disgust -> disgust,
6 anger -> anger; 7 contempt, 8 none, 9 uncertain and 10 non-face are dropped. Skipped: rows
whose image is missing, whose face box is not a positive box, and dropped labels; an unknown
expression code is an error naming the row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..clips import DatasetError, Skip
from ..faces import crop_face
from .common import LabelMapper, check_root

__all__ = ["EXPRESSIONS", "LABELS", "FaceImage", "ImageDiscovery", "discover_images", "load_face"]

EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt", "none", "uncertain",
               "non-face")
LABELS: dict[str, str | None] = {name: (name if code < 7 else None) for code, name in enumerate(EXPRESSIONS)}
COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression")


@dataclass(frozen=True)
class FaceImage:
    """One labelled face: the image file, the face box (x, y, w, h in pixels) and the class name."""

    path: Path
    box: tuple[int, int, int, int]
    label: str


@dataclass
class ImageDiscovery:
    """What :func:`discover_images` found: usable face images and skipped rows."""

    images: list[FaceImage] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


def discover_images(root: str | Path, classes: Sequence[str], label_map: Mapping[str, str | None], *,
                    split: str = "training", labels_csv: str | Path | None = None,
                    images_dir: str | Path | None = None) -> ImageDiscovery:
    """List the labelled AffectNet faces of ``split`` (``training`` or ``validation``) under ``root``.

    ``labels_csv`` defaults to the one ``<split>.csv`` in ``root`` or up to two folders below;
    ``images_dir`` defaults to ``root`` or the ``*Images`` folder there that holds the listed images.
    """
    root = check_root(root, "AffectNet")
    mapper = LabelMapper("AffectNet", LABELS, classes, label_map)
    csv_path = Path(labels_csv) if labels_csv is not None else _find_one(root, f"{split}.csv")
    table = _read_labels(csv_path)
    base = Path(images_dir) if images_dir is not None else _images_dir(root, table["subDirectory_filePath"], csv_path)
    codes = pd.to_numeric(table["expression"], errors="coerce").to_numpy()
    boxes = table[list(COLUMNS[1:5])].apply(pd.to_numeric, errors="coerce").to_numpy()
    found = ImageDiscovery()
    for number, (name, code, box, raw) in enumerate(zip(table["subDirectory_filePath"], codes, boxes,
                                                        table["expression"], strict=True), start=2):
        where = f"{csv_path}:{number}"
        if not (np.isfinite(code) and code == int(code) and 0 <= code < len(EXPRESSIONS)):
            raise DatasetError(f"{where}: unknown AffectNet expression {raw!r} (known: 0..{len(EXPRESSIONS) - 1})")
        label = mapper.resolve(EXPRESSIONS[int(code)], where)
        if isinstance(label, Skip):
            found.skipped.append(label)
            continue
        if not (np.isfinite(box).all() and (box[:2] >= 0).all() and (box[2:] > 0).all()):
            found.skipped.append(Skip(where, f"face box {tuple(box.tolist())} is not a box with a positive size"))
            continue
        path = base / name
        if not path.is_file():
            found.skipped.append(Skip(where, f"image {path} not found"))
            continue
        x, y, w, h = (int(v) for v in box)  # the four face_* columns
        found.images.append(FaceImage(path=path, box=(x, y, w, h), label=label))
    if not found.images:
        detail = "; ".join(f"{skip.path}: {skip.reason}" for skip in found.skipped[:5])
        raise DatasetError(f"AffectNet: no usable image listed in {csv_path} "
                           f"({len(found.skipped)} rows skipped: {detail})")
    return found


def load_face(image: FaceImage, size: int) -> np.ndarray:
    """Read ``image`` and return its face box as a ``size`` x ``size`` RGB uint8 crop.

    The crop is made as ingest makes the crops of clips (:func:`emo_env.data.faces.crop_face`).
    """
    pixels = cv2.imread(str(image.path), cv2.IMREAD_COLOR)
    if pixels is None:
        raise DatasetError(f"{image.path}: not a readable image")
    return crop_face(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB), np.asarray(image.box, np.float32), size)


def _near(root: Path, pattern: str) -> list[Path]:
    """Paths matching ``pattern`` in ``root`` and up to two folders below it (never a full walk)."""
    return sorted(path for prefix in ("", "*/", "*/*/") for path in root.glob(prefix + pattern))


def _find_one(root: Path, name: str) -> Path:
    found = [path for path in _near(root, name) if path.is_file()]
    if len(found) != 1:
        raise DatasetError(f"AffectNet: expected one {name} in {root} or two folders below it, found "
                           f"{', '.join(map(str, found)) or 'none'}; pass its path as labels_csv")
    return found[0]


def _read_labels(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"AffectNet label file {path} does not exist")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DatasetError(f"AffectNet label file {path} is not a readable CSV: {exc}") from exc
    missing = [name for name in COLUMNS if name not in table.columns]
    if missing:
        raise DatasetError(f"AffectNet label file {path} lacks the columns {', '.join(missing)}")
    if table.empty:
        raise DatasetError(f"AffectNet label file {path} has no rows")
    return table


def _images_dir(root: Path, paths: pd.Series, csv_path: Path) -> Path:
    candidates = [root, *(path for path in _near(root, "*Images") if path.is_dir())]
    sample = [str(name) for name in paths.iloc[:100]]
    for folder in candidates:
        if any((folder / name).is_file() for name in sample):
            return folder
    raise DatasetError(f"AffectNet: none of the first images listed in {csv_path} (e.g. {sample[0]}) is in {root} "
                       f"or an *Images folder up to two levels below it; pass the image folder as images_dir")
