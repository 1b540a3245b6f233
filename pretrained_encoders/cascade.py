"""One cascade: audio and visual encoders, fusion net and temporal models trained on some clips for
fixed epoch counts, and their per-step outputs on the clips to export."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from . import distributed
from .augment import jitter_faces, warp_mels
from .data import Corpus
from .models import FusedEncoder, FusionNet, TemporalModel, build_model
from .models.frontends import FaceFrontEnd, FrontEndEncoder, with_face_prior
from .settings import PretrainSettings
from .training import FitResult, FrameTask, SequenceTask, fit, predict, stage_seed

__all__ = ["CascadeResult", "train_cascade", "compute_frontend_features", "pad_clips", "unpad_clips"]


@dataclass
class CascadeResult:
    """Trained models (``audio``, ``visual``, ``fusion``, ``temporal:<modality>``), their fits, and
    per-row outputs on the exported clips' steps (``audio``, ``visual``, ``fusion`` embeddings,
    ``head:<kind>`` the frame-level classifier logits of each encoder, ``hidden:<modality>``,
    ``probs:<modality>``), rows in exported clip order."""

    models: dict[str, nn.Module]
    fits: dict[str, FitResult]
    features: dict[str, torch.Tensor]
    timings_s: dict[str, float] = field(default_factory=dict)


def pad_clips(rows: torch.Tensor, offsets: np.ndarray, clips: Sequence[int] | None = None) -> torch.Tensor:
    """Per-row features ``[N, D]`` -> zero-padded ``[C, T_max, D]`` (all clips, or ``clips``)."""
    clips = range(len(offsets) - 1) if clips is None else clips
    return nn.utils.rnn.pad_sequence([rows[offsets[c] : offsets[c + 1]] for c in clips], batch_first=True)


def unpad_clips(padded: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
    """``[C, T_max, D]`` -> ``[sum(lengths), D]``, dropping the padding."""
    return torch.cat([padded[i, :n] for i, n in enumerate(lengths)])


@torch.no_grad()
def compute_frontend_features(encoder: FrontEndEncoder | nn.Module, inputs: torch.Tensor, device: torch.device,
                              chunk: int = 512) -> torch.Tensor:
    """The frozen front end's features of every row of ``inputs`` (an encoder's or a front end's), float32 on CPU."""
    frontend = encoder.frontend if isinstance(encoder, FrontEndEncoder) else encoder
    frontend.to(device).eval()
    return torch.cat([frontend(inputs[i : i + chunk].to(device)).float().cpu() for i in range(0, len(inputs), chunk)])


def train_cascade(
    corpus: Corpus,
    train_clips: np.ndarray,
    val_clips: np.ndarray,
    export_clips: np.ndarray,
    settings: PretrainSettings,
    spec: Mapping[str, Any],
    *,
    name: str,
    temporal_modalities: Sequence[str],
    frontend_features: Mapping[str, torch.Tensor] | None = None,
    run_dir: Path | None,
    device: torch.device,
    epoch_scale: float = 1.0,
    progress: bool = True,
) -> CascadeResult | None:
    """Train the cascade ``name`` on ``train_clips`` for the settings' epoch counts times ``epoch_scale``
    and keep every stage's last epoch; ``val_clips`` (may be empty) are only scored each epoch, for the
    logs. The result holds the per-step outputs on ``export_clips``.

    An encoder with a frozen front end (:class:`FrontEndEncoder`) trains only its top, on every step's cached
    front-end features (``frontend_features[kind]``, all rows; computed here when not given), without augmentation.
    A visual temporal model with the face prior (``spec["face_prior"]``) reads it from the store's face features
    (``frontend_features["face"]``, likewise).

    Under ``torchrun`` every process trains the frame-level encoders together (DDP); only rank 0
    goes on to the fusion and temporal stages and gets a result (the others get None).
    """
    timings: dict[str, float] = {}
    val_rows = corpus.rows(val_clips)
    train_spans = [(int(corpus.offsets[c]), int(corpus.offsets[c + 1])) for c in train_clips]
    labels = corpus.row_labels()
    steps = settings.steps_per_clip

    def run(stage: str, model: nn.Module, task: Any, epochs: int, ddp: bool = False) -> FitResult:
        t0 = time.perf_counter()
        result = fit(model, task, settings.stage(epochs, epoch_scale), stage=f"{name}-{stage}",
                     checkpoint=run_dir / "checkpoints" / f"{name}-{stage}.pt" if run_dir else None,
                     log_dir=run_dir / "tensorboard" / f"{name}-{stage}" if run_dir else None,
                     distributed_data_parallel=ddp, progress=progress)
        timings[stage] = time.perf_counter() - t0
        return result

    def new(kind: str, stage: str) -> nn.Module:
        torch.manual_seed(stage_seed(settings.seed, name, stage, "init"))
        weights = {"audio": settings.audio_weights, "visual": settings.visual_weights}.get(kind)
        return build_model(kind, spec, weights=weights).to(device)

    def frame_task(inputs: Sequence[torch.Tensor], augment: Any, per_clip: int | None) -> FrameTask:
        return FrameTask(inputs, labels, train_spans, val_rows, batch_size=settings.batch_size,
                         steps_per_clip=per_clip, device=device, augment=augment if settings.augment else None)

    def aug_audio(inputs: tuple[torch.Tensor, ...], g: torch.Generator) -> tuple[torch.Tensor, ...]:
        return (warp_mels(inputs[0], g, settings.freq_warp), *inputs[1:])

    def aug_visual(inputs: tuple[torch.Tensor, ...], g: torch.Generator) -> tuple[torch.Tensor, ...]:
        return (*inputs[:-1], jitter_faces(inputs[-1], g, settings.brightness_jitter, settings.saturation_jitter))

    def aug_both(inputs: tuple[torch.Tensor, ...], g: torch.Generator) -> tuple[torch.Tensor, ...]:
        return aug_visual(aug_audio(inputs, g), g)

    raw = {"audio": corpus.mels, "visual": corpus.faces}
    augmenters = {"audio": aug_audio, "visual": aug_visual}
    models: dict[str, nn.Module] = {"audio": new("audio", "audio"), "visual": new("visual", "visual")}
    cached = dict(frontend_features or {})
    fits: dict[str, FitResult] = {}
    for kind in ("audio", "visual"):
        model = models[kind]
        if isinstance(model, FrontEndEncoder):
            if kind not in cached:
                cached[kind] = compute_frontend_features(model, raw[kind], device)
            fits[kind] = run(kind, model.top, frame_task([cached[kind]], None, None), settings.num_epochs)
        else:
            fits[kind] = run(kind, model, frame_task([raw[kind]], augmenters[kind], steps), settings.num_epochs,
                             ddp=True)
    models["fusion"] = new("fusion", "fusion")
    if settings.finetune:
        fused = FusedEncoder(models["audio"], models["visual"], cast(FusionNet, models["fusion"]))
        fits["fusion"] = run("fusion", fused, frame_task([corpus.mels, corpus.faces], aug_both, steps),
                             settings.fusion_epochs, ddp=True)
    if not distributed.is_main():
        return None

    t0 = time.perf_counter()
    needed = corpus.rows(np.unique(np.concatenate([train_clips, val_clips, export_clips])))
    embeddings = {m: torch.zeros(len(labels), settings.embed_dim) for m in ("audio", "visual", "fusion")}
    heads = {m: torch.zeros(len(labels), len(corpus.class_names)) for m in ("audio", "visual", "fusion")}
    for kind in ("audio", "visual"):
        model, inputs = ((cast(FrontEndEncoder, models[kind]).top, cached[kind]) if kind in cached
                         else (models[kind], raw[kind]))
        embeddings[kind][needed], heads[kind][needed] = predict(model, [inputs[needed]], device)
    timings["embed"] = time.perf_counter() - t0
    if not settings.finetune:
        fits["fusion"] = run("fusion", models["fusion"],
                             frame_task([embeddings["audio"], embeddings["visual"]], None, steps),
                             settings.fusion_epochs)
    embeddings["fusion"][needed], heads["fusion"][needed] = predict(
        models["fusion"], [embeddings["audio"][needed], embeddings["visual"][needed]], device)

    export_rows = corpus.rows(export_clips)
    features = {m: embeddings[m][export_rows] for m in embeddings} | {f"head:{m}": heads[m][export_rows] for m in heads}
    lengths = torch.from_numpy(corpus.lengths)
    label_tensor = torch.from_numpy(corpus.labels)
    export_lengths = corpus.lengths[export_clips].tolist()
    for modality in temporal_modalities:
        stage = f"temporal:{modality}"
        models[stage] = new(f"temporal_{modality}", stage)
        steps_in = embeddings[modality]
        if cast(TemporalModel, models[stage]).prior:
            if "face" not in cached:
                cached["face"] = compute_frontend_features(FaceFrontEnd(), corpus.faces, device)
            steps_in = with_face_prior(steps_in, cached["face"], spec["face_prior"])
        sequences = pad_clips(steps_in, corpus.offsets)
        task = SequenceTask(sequences, lengths, label_tensor, train_clips, val_clips,
                            batch_size=settings.batch_size, device=device)
        fits[stage] = run(stage.replace(":", "-"), models[stage], task,
                          settings.temporal_epochs_of(modality))
        hidden, logits = predict(models[stage], [sequences[export_clips]], device)
        features[f"hidden:{modality}"] = unpad_clips(hidden, export_lengths)
        features[f"probs:{modality}"] = unpad_clips(torch.softmax(logits, dim=-1), export_lengths)
    return CascadeResult(models=models, fits=fits, features=features, timings_s=timings)
