"""Visual-encoder pretraining on a face image set (AffectNet), the paper's first stage: the weights it
writes are then fine-tuned on a clip corpus with ``encoder.visual_weights``.

    python pretrain_encoder.py --config affectnet --set data.root=/path/to/AffectNet
    python pretrain_encoder.py --config rml --set data.root=/path/to/RML \\
        --set encoder.visual_weights=runs/affectnet/encoders/affectnet_visual/visual_weights.pt

Trains on the ``training`` list and selects the best epoch on the ``validation`` list (AffectNet's
published split), with the shared training loop (checkpoints, ``--resume``, TensorBoard, DDP).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from tqdm.auto import tqdm

from emo_env.artifacts import atomic_path
from emo_env.config import resolve_path
from emo_env.data.clips import DatasetError
from emo_env.data.corpora import IMAGE_SETS
from emo_env.data.corpora.affectnet import FaceImage, load_face

from . import distributed
from .augment import jitter_faces
from .models import build_model
from .models.visual import save_visual_weights
from .pipeline import prepare_run_dir
from .settings import PretrainSettings
from .training import FrameTask, fit, predict, stage_seed

__all__ = ["IMAGE_DATASETS", "ImagePretrainOutput", "pretrain_visual_on_images", "load_faces"]

# Face image sets (frame level, not clips) by ``data.dataset`` name: discover(root, classes, label_map, split, ...).
IMAGE_DATASETS = IMAGE_SETS


@dataclass
class ImagePretrainOutput:
    weights: Path
    report: dict[str, Any]
    report_files: dict[str, Path]


def load_faces(images: Sequence[FaceImage], size: int, *, workers: int = 2, progress: bool = True) -> torch.Tensor:
    """The face crops of ``images`` as uint8 ``[N, size, size, 3]`` (read by ``workers`` threads)."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        crops = list(tqdm(pool.map(lambda image: load_face(image, size), images), total=len(images),
                          desc="face images", disable=not progress, leave=False))
    return torch.from_numpy(np.stack(crops)) if crops else torch.zeros(0, size, size, 3, dtype=torch.uint8)


def pretrain_visual_on_images(config: Mapping[str, Any], settings: PretrainSettings, *, device: torch.device,
                              resume: bool = False, progress: bool = True) -> ImagePretrainOutput | None:
    """Train the visual encoder of ``settings`` on the config's face image set; rank 0 gets the output.

    Writes ``visual_weights.pt`` (the encoder, loadable by ``encoder.visual_weights``), checkpoints,
    TensorBoard logs and ``report.json``/``report.md`` into ``{encoder.out_dir}/<dataset>_visual``.
    """
    data = config["data"]
    if data["root"] is None:
        raise DatasetError(f"data.root: set it to the {data['dataset']} folder (the one holding its label CSVs)")
    classes = list(data["classes"])
    discover = IMAGE_DATASETS[data["dataset"]]
    splits = {name: discover(data["root"], classes, data["label_map"], split=name, **data["options"])
              for name in ("training", "validation")}
    images = splits["training"].images + splits["validation"].images
    faces = load_faces(images, int(data["face_size"]), workers=int(data["workers"]), progress=progress)
    labels = torch.tensor([classes.index(image.label) for image in images], dtype=torch.int64)
    n_train = len(splits["training"].images)
    held_rows = np.arange(n_train, len(images))

    run_dir = (resolve_path(cast("dict[str, Any]", config), config["encoder"]["out_dir"], "encoders")  # only reads it
               / f"{data['dataset']}_visual")
    prepare_run_dir(run_dir, config, resume)
    spec = {"visual_arch": settings.visual_arch, "embed_dim": settings.embed_dim, "class_names": classes}
    torch.manual_seed(stage_seed(settings.seed, "images", "visual", "init"))
    model = build_model("visual", spec, weights=settings.visual_weights).to(device)

    def augment(inputs: tuple[torch.Tensor, ...], g: torch.Generator) -> tuple[torch.Tensor, ...]:
        return (jitter_faces(inputs[0], g, settings.brightness_jitter, settings.saturation_jitter),)

    task = FrameTask([faces], labels, [(i, i + 1) for i in range(n_train)], held_rows, batch_size=settings.batch_size,
                     steps_per_clip=None, device=device, augment=augment if settings.augment else None)
    result = fit(model, task, settings.stage(settings.num_epochs), stage="images-visual",
                 checkpoint=run_dir / "checkpoints" / "visual.pt", log_dir=run_dir / "tensorboard" / "visual",
                 select_best=True, distributed_data_parallel=True, progress=progress)
    if not distributed.is_main():
        return None
    weights = save_visual_weights(model, settings.visual_arch, settings.embed_dim, classes,
                                  run_dir / "visual_weights.pt")
    predictions = predict(model, [faces[held_rows]], device)[1].argmax(1).numpy()
    truth = labels[held_rows].numpy()
    report = {
        "dataset": data["dataset"], "classes": classes, "visual_arch": settings.visual_arch,
        "images": {name: len(found.images) for name, found in splits.items()},
        "skipped": {name: [{"path": s.path, "reason": s.reason} for s in found.skipped]
                    for name, found in splits.items()},
        "best_epoch": result.best_epoch, "validation_accuracy": result.best_accuracy,
        "validation_accuracy_per_class": {name: float((predictions[truth == k] == k).mean()) if (truth == k).any()
                                          else None for k, name in enumerate(classes)},
        "history": result.history,
    }
    return ImagePretrainOutput(weights, report, _write_report(run_dir, report))


def _write_report(run_dir: Path, r: Mapping[str, Any]) -> dict[str, Path]:
    paths = {"report.json": run_dir / "report.json", "report.md": run_dir / "report.md"}
    with atomic_path(paths["report.json"]) as tmp:
        tmp.write_text(json.dumps(r, indent=2))
    per_class = ", ".join(f"{name} {100 * acc:.1f} %" for name, acc in r["validation_accuracy_per_class"].items()
                          if acc is not None)
    skipped = {name: len(rows) for name, rows in r["skipped"].items()}
    lines = [f"# Visual encoder pretrained on {r['dataset']} ({r['visual_arch']})", "",
             f"- Images: {r['images']['training']} training, {r['images']['validation']} validation "
             f"(skipped: {skipped['training']} and {skipped['validation']} rows; see report.json for why).",
             f"- Best epoch {r['best_epoch'] + 1}: validation accuracy {100 * r['validation_accuracy']:.1f} %.",
             f"- Per class: {per_class}.", "",
             "| epoch | train loss | train acc | validation loss | validation acc |", "|---|---|---|---|---|"]
    lines += [f"| {h['epoch'] + 1} | {h['train_loss']:.3f} | {100 * h['train_accuracy']:.1f} % | "
              f"{h['validation_loss']:.3f} | {100 * h['validation_accuracy']:.1f} % |" for h in r["history"]]
    with atomic_path(paths["report.md"]) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return paths
