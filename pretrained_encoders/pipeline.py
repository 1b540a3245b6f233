"""Pretrain the cascade for one held-out fold, with out-of-fold beliefs on the training split,
then export the feature store, ``encoders.pt`` and the run report."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.multiprocessing as mp
from tqdm.auto import tqdm

from emo_env import __version__
from emo_env.artifacts import ENCODERS_FILE, CheckpointError, atomic_path
from emo_env.data.store import write_store

from . import distributed
from .baselines import audio_features, frame_and_clip_accuracy, linear_log_probs, visual_features
from .calibration import ECE_BINS, apply_calibration, calibration_table, fit_calibration, plot_reliability, step_indices
from .cascade import CascadeResult, compute_frontend_features, train_cascade
from .data import Corpus
from .encoders import ENCODERS_VERSION, save_encoders, state_checksum
from .models import MODALITIES, Familiarity, TemporalModel
from .models.familiarity import FAMILIARITY_PARTS
from .models.frontends import VOICE_DESCRIPTORS, FaceFrontEnd, face_prior_indices, voice_frontend
from .models.temporal import CALIBRATION_FIELDS
from .report import FRACTIONS, accuracy_by_fraction, confusion_matrix, prefix_steps, write_report
from .settings import PretrainSettings

__all__ = ["PretrainOutput", "speaker_folds", "pretrain", "prepare_run_dir"]

# The store's features: the front ends' (the same for every clip of every fold), and calibrated beliefs (the
# temporal model of the store's modality, and of each single modality).
FRONTEND_FEATURES = {"audio": "voice", "visual": "face"}
BELIEF_FEATURES = {"probs": None, "probs_audio": "audio", "probs_visual": "visual"}


@dataclass
class PretrainOutput:
    store: Path
    encoders: Path
    report: dict[str, Any]
    report_files: dict[str, Path]


def speaker_folds(speakers: Iterable[str], k: int) -> list[list[str]]:
    """Split the distinct ``speakers`` (sorted) round-robin into ``min(k, n)`` folds; ``k <= 1``: no folds."""
    distinct = sorted(set(speakers))
    if k <= 1:
        return []
    if len(distinct) < 2:
        raise ValueError(f"out-of-fold beliefs need at least 2 training speakers, got {distinct}; "
                         "set encoder.oof_folds=0 to export in-sample training beliefs")
    k = min(k, len(distinct))
    return [distinct[i::k] for i in range(k)]


def pretrain(
    corpus: Corpus,
    settings: PretrainSettings,
    *,
    corpus_name: str,
    fold: str,
    data_params: Mapping[str, Any],
    config: Mapping[str, Any],
    run_dir: Path,
    store_path: Path,
    device: torch.device,
    resume: bool = False,
    progress: bool = True,
    workers: int = 1,
    timings_s: Mapping[str, float] | None = None,
    frontend_cache: dict[str, dict[str, torch.Tensor]] | None = None,
) -> PretrainOutput | None:
    """Train every cascade for held-out ``fold`` and write store, encoders and report (rank 0 only;
    other ``torchrun`` processes help with the frame-level encoders and get None).

    On CPU, ``workers`` > 1 trains the independent cascades (out-of-fold and full) in that many
    processes with ``cpu_count // workers`` torch threads each, which uses small CPUs far better than
    threads within one small network.

    ``config`` is recorded in the store and ``run_dir/run_config.json``; ``resume`` continues the
    checkpoints in ``run_dir`` (the recorded config must match), otherwise they are discarded.
    ``frontend_cache`` (clip id -> front-end features) lets the folds of one corpus share the front ends' work.
    """
    started = time.perf_counter()
    prepare_run_dir(run_dir, config, resume)
    spec = _spec(settings, corpus, data_params)
    train = np.flatnonzero(corpus.split == 0)
    held_out = np.flatnonzero(corpus.split == 1)
    train_speakers = np.array(corpus.speakers)[train]
    folds = speaker_folds(train_speakers, settings.oof_folds)
    t0 = time.perf_counter()
    frontend = store_frontend_features(corpus, spec, device, frontend_cache)
    cached = {kind: frontend[FRONTEND_FEATURES[kind]] for kind in ("audio", "visual")
              if _uses_store_frontend(settings, kind)} | {"face": frontend["face"]}
    frontend_s = time.perf_counter() - t0
    none = np.zeros(0, dtype=np.int64)
    # (name, fit clips, validation clips scored for the logs only, exported clips, temporal modalities)
    plan: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, Sequence[str]]] = []
    for k, speakers in enumerate(folds, start=1):
        in_fold = np.isin(train_speakers, speakers)
        plan.append((f"oof{k}", train[~in_fold], train[in_fold], train[in_fold], MODALITIES))
    plan.append(("full", train, none, held_out if folds else np.arange(corpus.num_clips), MODALITIES))
    jobs = [(corpus, fit_clips, val_clips, export_clips, settings, spec, name, modalities, cached, run_dir, device,
             len(train) / len(fit_clips))
            for name, fit_clips, val_clips, export_clips, modalities in plan]
    t0 = time.perf_counter()
    if workers > 1 and device.type == "cpu" and distributed.world_size() == 1:
        trained = _train_in_processes(jobs, workers, progress)
    else:
        trained = [_train(*job, progress=progress) for job in jobs]
    if not distributed.is_main():
        return None
    results = {job[6]: (result, job[3]) for job, result in zip(jobs, trained, strict=True)}
    timings = {**(timings_s or {}), "front ends": frontend_s, "cascades": time.perf_counter() - t0}

    t0 = time.perf_counter()
    full = results["full"][0]
    assert full is not None
    beliefs = _gather_beliefs(corpus, results)
    steps = step_indices(corpus.lengths)
    train_rows = corpus.rows(train)
    row_labels = corpus.row_labels().numpy()
    calibrations: dict[str, tuple[float, ...]] = {}
    for m in MODALITIES:
        calibrations[m] = (fit_calibration(beliefs[m][train_rows], row_labels[train_rows], steps[train_rows])
                           if folds else (0.0,) * len(CALIBRATION_FIELDS))
    calibrated: dict[str, np.ndarray] = {m: apply_calibration(beliefs[m], calibrations[m], steps) for m in MODALITIES}
    uncalibrated, calibration = beliefs[settings.modality], calibrations[settings.modality]
    features = {name: calibrated[m or settings.modality] for name, m in BELIEF_FEATURES.items()}
    features |= {name: frontend[name].numpy() for name in FRONTEND_FEATURES.values()}
    temporals = {f"temporal_{m}": cast(TemporalModel, full.models[f"temporal:{m}"]) for m in MODALITIES}
    familiarity = Familiarity.fit({name: features[name][train_rows] for name in FRONTEND_FEATURES.values()},
                                  _offsets(corpus, train))
    for m in MODALITIES:
        temporals[f"temporal_{m}"].calibration.copy_(torch.tensor(calibrations[m]))
    encoders_path = run_dir / ENCODERS_FILE
    checksum = save_encoders(encoders_path, {kind: full.models[kind] for kind in ("audio", "visual", "fusion")}
                             | temporals | {"familiarity": familiarity}, spec)
    metadata = {
        "config": dict(config),
        "code_version": __version__,
        "seed": settings.seed,
        "corpus": corpus_name,
        "fold": fold,
        "encoders_spec": spec,
        "encoder_checksums": {"full": checksum} | {
            name: state_checksum({k: m.state_dict() for k, m in r.models.items()})
            for name, (r, _) in results.items() if name != "full" and r is not None},
        "train_beliefs": _belief_source(folds),
        "oof_folds": folds,
        "calibration": list(calibration),
        "modality_calibration": {m: list(calibrations[m]) for m in MODALITIES},
        "frontends": {name: _frontend_description(kind, spec) for kind, name in FRONTEND_FEATURES.items()},
        "familiarity_limits": dict(zip(FAMILIARITY_PARTS, familiarity.limits.tolist(), strict=True)),
    }
    write_store(store_path, class_names=corpus.class_names, step_rate=float(data_params["step_rate"]),
                modality=settings.modality, clip_ids=corpus.clip_ids, speakers=corpus.speakers, labels=corpus.labels,
                split=corpus.split, lengths=corpus.lengths,
                features={name: value.astype(np.float16) for name, value in features.items()}, metadata=metadata)
    stages: dict[str, float] = {}
    for name, (result, _) in results.items():
        group = "out-of-fold cascades" if name.startswith("oof") else "full cascade"
        for stage, seconds in (result.timings_s if result else {}).items():
            stages[f"{group}: {stage}"] = stages.get(f"{group}: {stage}", 0.0) + seconds
    timings["export"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = _report(corpus, settings, results, {"uncalibrated": uncalibrated, "calibrated": features["probs"]},
                     calibration, folds, corpus_name, fold)
    timings["report"] = time.perf_counter() - t0
    timings["total"] = sum(timings_s.values() if timings_s else []) + time.perf_counter() - started
    report |= {"timings_s": timings, "stage_timings_s": stages}
    plot_reliability({f"{split}, {state}": (beliefs[corpus.rows(clips)], _offsets(corpus, clips), corpus.labels[clips])
                      for state, beliefs in (("before", uncalibrated), ("after", features["probs"]))
                      for split, clips in (("train", train), ("eval", held_out))},
                     run_dir / "reliability.png",
                     f"{corpus_name}, held-out {fold}: exported beliefs before and after calibration")
    report_files = write_report(run_dir, report) | {"reliability.png": run_dir / "reliability.png"}
    return PretrainOutput(store=store_path, encoders=encoders_path, report=report, report_files=report_files)


def _gather_beliefs(corpus: Corpus,
                    results: Mapping[str, tuple[CascadeResult | None, np.ndarray]]) -> dict[str, np.ndarray]:
    """Each modality's temporal beliefs, float32 ``[steps, K]``: each cascade's outputs on the clips it exports."""
    beliefs: dict[str, np.ndarray] = {m: np.zeros((int(corpus.offsets[-1]), corpus.num_classes), np.float32)
                                      for m in MODALITIES}
    for result, export_clips in results.values():
        assert result is not None
        rows = corpus.rows(export_clips)
        for m in MODALITIES:
            beliefs[m][rows] = result.features[f"probs:{m}"].numpy()
    return beliefs


def store_frontend_features(corpus: Corpus, spec: Mapping[str, Any], device: torch.device,
                            cache: dict[str, dict[str, torch.Tensor]] | None = None) -> dict[str, torch.Tensor]:
    """The store's front-end features of every step: ``voice`` (descriptors of the log-mel window) and ``face``
    (the bundled FER2013 mini-Xception's features of the face crop), whatever the cascade's architectures.
    Clips in ``cache`` (clip id -> features) are not computed again; the others are added to it."""
    cache = {} if cache is None else cache
    voice, face = voice_frontend(int(spec["mel_bands"]), spec["data"]), FaceFrontEnd()
    for c, clip_id in enumerate(corpus.clip_ids):  # clip by clip: a clip's features do not depend on the others
        if clip_id not in cache:
            rows = slice(int(corpus.offsets[c]), int(corpus.offsets[c + 1]))
            cache[clip_id] = {"voice": compute_frontend_features(voice, corpus.mels[rows], device),
                              "face": compute_frontend_features(face, corpus.faces[rows], device)}
    return {name: torch.cat([cache[clip_id][name] for clip_id in corpus.clip_ids]) for name in ("voice", "face")}


def _uses_store_frontend(settings: PretrainSettings, kind: str) -> bool:
    """Whether the cascade's ``kind`` encoder sits on the store's front end (its cached features are reused)."""
    if kind == "audio":
        return settings.audio_arch == "descriptors"
    return settings.visual_arch == "fer2013" and settings.visual_weights is None


def _frontend_description(kind: str, spec: Mapping[str, Any]) -> str:
    if kind == "audio":
        return f"{len(VOICE_DESCRIPTORS)} voice descriptors of the log-mel window (VoiceFrontEnd)"
    return "the bundled FER2013 mini-Xception's 128 pooled features and 7 class log-probabilities"


def _offsets(corpus: Corpus, clips: np.ndarray) -> np.ndarray:
    """Offsets of ``clips``' rows once gathered clip after clip."""
    return np.concatenate([[0], np.cumsum(corpus.lengths[clips])]).astype(np.int64)


def _train(corpus: Corpus, fit_clips: np.ndarray, val_clips: np.ndarray, export_clips: np.ndarray,
           settings: PretrainSettings, spec: dict[str, Any], name: str, modalities: Sequence[str],
           cached: Mapping[str, torch.Tensor], run_dir: Path, device: torch.device, epoch_scale: float, *,
           progress: bool, threads: int | None = None) -> CascadeResult | None:
    if threads is not None:
        torch.set_num_threads(threads)
    return train_cascade(corpus, fit_clips, val_clips, export_clips, settings, spec, name=name,
                         temporal_modalities=modalities, frontend_features=cached, run_dir=run_dir,
                         device=device, epoch_scale=epoch_scale, progress=progress)


def _train_in_processes(jobs: list[tuple], workers: int, progress: bool) -> list[CascadeResult | None]:
    """Run :func:`_train` on every job in ``workers`` spawned processes (tensors travel in shared memory)."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        futures = [pool.submit(_train, *job, progress=False, threads=threads) for job in jobs]
        for _ in tqdm(as_completed(futures), total=len(futures), desc="cascades", disable=not progress):
            pass
        return [f.result() for f in futures]


def _belief_source(folds: list[list[str]]) -> str:
    if folds:
        return f"out-of-fold: {len(folds)} cascades cross-fitted by training speaker"
    return "in-sample (encoder.oof_folds <= 1): over-confident on the training split"


def _spec(settings: PretrainSettings, corpus: Corpus, data_params: Mapping[str, Any]) -> dict[str, Any]:
    prior = face_prior_indices(corpus.class_names) if settings.face_prior else None
    if settings.face_prior and prior is None and distributed.is_main():
        print(f"encoder.face_prior is off: some of the classes {list(corpus.class_names)} have no FER2013 "
              f"counterpart (anger, disgust, fear, happy, sad, surprise, neutral)", file=sys.stderr)
    return {
        "class_names": list(corpus.class_names),
        "modality": settings.modality,
        "audio_arch": settings.audio_arch,
        "visual_arch": settings.visual_arch,
        "embed_dim": settings.embed_dim,
        "hidden_dim": settings.hidden_dim,
        "mel_frames": int(corpus.mels.shape[1]),
        "mel_bands": int(corpus.mels.shape[2]),
        "face_size": int(corpus.faces.shape[1]),
        "data": dict(data_params),
        "face_prior": prior,
    }


def prepare_run_dir(run_dir: Path, config: Mapping[str, Any], resume: bool) -> None:
    """Record the run's config in ``run_dir``; without ``resume`` drop old checkpoints and logs, with it
    refuse a run directory written by a different config (one whose record is damaged starts over)."""
    record = run_dir / "run_config.json"
    if distributed.is_main():
        wanted = json.loads(json.dumps(_identity(config)))
        if resume and record.is_file():
            try:
                recorded = json.loads(record.read_bytes())
            except ValueError as exc:  # damaged: which config its checkpoints belong to is unknown
                print(f"--resume: {record} is corrupt ({type(exc).__name__}): its checkpoints are dropped, "
                      f"training from the start", file=sys.stderr)
                resume = False
            else:
                if recorded != wanted:
                    raise CheckpointError(f"--resume: {record} was written by a different config or encoders "
                                          f"version (this code writes version {ENCODERS_VERSION}); "
                                          f"rerun without --resume")
        if not resume:
            for sub in ("checkpoints", "tensorboard"):
                shutil.rmtree(run_dir / sub, ignore_errors=True)
        with atomic_path(record) as tmp:
            tmp.write_text(json.dumps(wanted, indent=2, sort_keys=True))
    distributed.barrier()


def _identity(config: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a config that decide the result (not the device), and the encoders' format version (a
    front end's code changes with it, not with the config)."""
    return {k: v for k, v in config.items() if k != "device"} | {"encoders_version": ENCODERS_VERSION}


def _report(corpus: Corpus, settings: PretrainSettings, results: Mapping[str, tuple[CascadeResult | None, np.ndarray]],
            beliefs: Mapping[str, np.ndarray], calibration_map: Sequence[float], folds: list[list[str]],
            corpus_name: str, fold: str) -> dict[str, Any]:
    """Everything measured on the held-out speaker, and the training split's beliefs and inner-fold curves."""
    full, full_export = results["full"]
    assert full is not None
    train = np.flatnonzero(corpus.split == 0)
    held_out = np.flatnonzero(corpus.split == 1)
    held_rows = corpus.rows(held_out)
    held_offsets = _offsets(corpus, held_out)
    held_labels = corpus.labels[held_out]
    on_held = np.searchsorted(corpus.rows(full_export), held_rows)  # full cascade rows of the held-out steps
    curves: dict[str, Any] = {"fractions": list(FRACTIONS)}
    for m in MODALITIES:  # a temperature does not change the argmax
        curves[m] = accuracy_by_fraction(full.features[f"probs:{m}"].numpy()[on_held], held_offsets, held_labels)
    calibrated = beliefs["calibrated"]
    split_beliefs: dict[str, Any] = {}
    calibration: dict[str, Any] = {
        "method": "temperature exp(a + b u + c u^2), u = log(1 + min(step, last_step)), fitted on the training "
        "split's out-of-fold beliefs" if folds else "none (in-sample training beliefs)",
        **dict(zip(CALIBRATION_FIELDS, calibration_map, strict=True)),
        "ece_bins": ECE_BINS}
    for name, clips in (("train", train), ("eval", held_out)):
        rows, offsets = corpus.rows(clips), _offsets(corpus, clips)
        split_beliefs[name] = accuracy_by_fraction(calibrated[rows], offsets, corpus.labels[clips])
        calibration[name] = {state: calibration_table(beliefs[state][rows], offsets, corpus.labels[clips])
                             for state in ("uncalibrated", "calibrated")}
    split_beliefs["train_source"] = _belief_source(folds)
    end = calibrated[corpus.offsets[held_out] + prefix_steps(corpus.lengths[held_out], 1.0)].argmax(axis=1)
    lengths = corpus.lengths[held_out]
    encoders: dict[str, Any] = {}
    for m in MODALITIES:
        head = torch.log_softmax(full.features[f"head:{m}"][on_held], dim=-1).numpy()
        frame, clip = frame_and_clip_accuracy(head, lengths, held_labels)
        encoders[m] = {"frame": frame, "clip_mean": clip, "clip_temporal": curves[m][-1]}
    row_labels = corpus.row_labels().numpy()
    for m, make in (("audio", lambda: audio_features(corpus.mels)), ("visual", lambda: visual_features(corpus.faces))):
        log_probs = linear_log_probs(make(), row_labels, corpus.rows(train), held_rows, corpus.num_classes,
                                     seed=settings.seed)
        frame, clip = frame_and_clip_accuracy(log_probs, lengths, held_labels)
        encoders[m] |= {"linear_frame": frame, "linear_clip_mean": clip}
    return {
        "corpus": corpus_name,
        "fold": fold,
        "modality": settings.modality,
        "seed": settings.seed,
        "class_names": corpus.class_names,
        "clips": {"train": int(len(train)), "eval": int(len(held_out))},
        "train_speakers": sorted(set(np.array(corpus.speakers)[train])),
        "oof_folds": folds,
        "frame_accuracy": {m: encoders[m]["frame"] for m in MODALITIES},
        "clip_accuracy": {m: curves[m][-1] for m in MODALITIES},
        "encoders_vs_linear": encoders,
        "accuracy_vs_fraction": curves,
        "beliefs": split_beliefs,
        "calibration": calibration,
        "confusion_matrix": confusion_matrix(held_labels, end, corpus.num_classes).tolist(),
        "epochs": {stage: len(fit.history) for stage, fit in full.fits.items()},
        "inner_fold_curves": _inner_fold_curves(results),
        "settings": asdict(settings),
    }


def _inner_fold_curves(results: Mapping[str, tuple[CascadeResult | None, np.ndarray]]) -> dict[str, list[float]]:
    """Per stage, the out-of-fold cascades' mean validation accuracy after each epoch (their validation
    clips are training speakers): the evidence behind the fixed epoch counts."""
    histories: dict[str, list[list[float]]] = {}
    for name, (result, _) in results.items():
        if name == "full" or result is None:
            continue
        for stage, fit_result in result.fits.items():
            curve = [h["validation_accuracy"] for h in fit_result.history if "validation_accuracy" in h]
            if curve:
                histories.setdefault(stage, []).append(curve)
    return {stage: np.mean([c[: min(map(len, curves))] for c in curves], axis=0).tolist()
            for stage, curves in histories.items()}
