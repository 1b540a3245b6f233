"""Ingest throughput (steps per second) and face-tracking accuracy on a generated corpus.

- where the time goes: decoding (with the RGB conversion of the frames steps use), face
  detection and tracking, log-mel windows, and writing the compressed npz, each in CPU seconds of
  one process (``time.process_time``, single-threaded), so other load on the machine does not count;
- the whole ingest with 1 process vs ``--workers`` processes, in wall-clock seconds, same run,
  and a check that both give identical files;
- the tracked boxes against the generator's ground truth (``face_boxes.csv``): the share of steps
  with IoU >= 0.5 (target: at least 95 %), the mean IoU and the share of steps where the face was located.

Usage::

    python benchmarks/bench_ingest.py [--corpus DIR] [--speakers 8] [--clips-per-emotion 10] [--workers 2]

Without ``--corpus`` it generates a corpus of the given size (default: the default corpus) first.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from emo_env.config import default_config
from emo_env.data.corpora import get_adapter
from emo_env.data.ingest import IngestParams, ingest_dataset
from emo_env.data.media import AudioChunk, VideoFrame, read_media
from emo_env.data.steps import num_steps, step_time
from emo_env.data.synthetic import generate_corpus

TARGET_IOU_SHARE = 0.95


def stage_times(clips, params: IngestParams) -> dict[str, float]:
    """CPU seconds of each ingest stage over ``clips``, run one after the other as ingest runs them."""
    totals = dict.fromkeys(("decode", "detect+track", "log-mel", "write"), 0.0)
    for clip in clips:
        sampler = params.sampler()
        start = time.process_time()
        items = list(read_media(clip.video, clip.audio, sample_rate=params.sample_rate))
        frames = [item for item in items if isinstance(item, VideoFrame)]
        duration = frames[-1].time + frames[-1].duration
        times = [step_time(i, params.step_rate) for i in range(num_steps(duration, params.step_rate))]
        shown = np.searchsorted([f.time for f in frames], np.array(times) + 1e-6) - 1
        for index in np.unique(shown):
            _ = frames[index].image  # the conversions ingest does
        totals["decode"] += time.process_time() - start

        start = time.process_time()
        for frame in frames:
            sampler.tracker.push(frame)
        crops = [sampler.tracker.crop_at(t) for t in times]
        totals["detect+track"] += time.process_time() - start

        start = time.process_time()
        for item in items:
            if isinstance(item, AudioChunk):
                sampler.mels.push(item.samples)
        sampler.mels.finish()
        mels = [sampler.mels.window_at(t) for t in times]
        totals["log-mel"] += time.process_time() - start

        start = time.process_time()
        np.savez_compressed(io.BytesIO(), faces=np.stack([c.image for c in crops]),
                            mels=np.stack(mels).astype(np.float16), times=np.float32(times),
                            face_found=np.array([c.found for c in crops]), boxes=np.stack([c.box for c in crops]))
        totals["write"] += time.process_time() - start
    return totals


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of boxes ``[n, 4]`` (x, y, w, h)."""
    x0, y0 = np.maximum(a[:, :2], b[:, :2]).T
    x1, y1 = np.minimum(a[:, :2] + a[:, 2:], b[:, :2] + b[:, 2:]).T
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)


def tracking_accuracy(corpus: Path, ingest_dir: Path, index: pd.DataFrame, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """IoU with the ground truth and the face-located flag of every step."""
    truth = pd.read_csv(corpus / "face_boxes.csv").set_index(["clip_id", "frame"])
    ious, found = [], []
    for row in index.itertuples():
        with np.load(ingest_dir / row.file) as arrays:
            frames = np.floor(arrays["times"] * fps + 1e-4).astype(int)  # the frame shown at each step
            expected = truth.loc[[(row.clip_id, f) for f in frames], ["x", "y", "w", "h"]].to_numpy(np.float32)
            ious.append(iou(arrays["boxes"], expected))
            found.append(arrays["face_found"])
    return np.concatenate(ious), np.concatenate(found)


def same_outputs(a: Path, b: Path, index: pd.DataFrame) -> bool:
    for row in index.itertuples():
        with np.load(a / row.file) as x, np.load(b / row.file) as y:
            if any(not np.array_equal(x[name], y[name]) for name in x.files):
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, help="a generated corpus (default: generate one)")
    parser.add_argument("--speakers", type=int, default=8)
    parser.add_argument("--clips-per-emotion", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    config = default_config()
    params = IngestParams()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if corpus is None:
            corpus = Path(tmp) / "corpus"
            start = time.perf_counter()
            generate_corpus(corpus, speakers=args.speakers, clips_per_emotion=args.clips_per_emotion,
                            workers=args.workers)
            print(f"generated {corpus} in {time.perf_counter() - start:.1f} s")
        clips = get_adapter("synthetic")(corpus, config["data"]["classes"], {}).clips

        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        stages = stage_times(clips, params)
        runs = {}
        for workers in (1, args.workers):
            start = time.perf_counter()
            result = ingest_dataset(clips, Path(tmp) / f"ingest{workers}", params, workers=workers, progress=False)
            runs[workers] = time.perf_counter() - start
        steps = int(result.index["steps"].sum())
        identical = same_outputs(Path(tmp) / "ingest1", Path(tmp) / f"ingest{args.workers}", result.index)
        ious, found = tracking_accuracy(corpus, Path(tmp) / "ingest1", result.index, config["synthetic"]["fps"])

    print(f"\n{result.summary()}\n")
    print("| stage (1 process, CPU time) | seconds | share | ms per step | steps/s |")
    print("|---|---:|---:|---:|---:|")
    total = sum(stages.values())
    for name, seconds in [*stages.items(), ("total", total)]:
        print(f"| {name} | {seconds:.2f} | {seconds / total:.0%} | {1000 * seconds / steps:.2f} | "
              f"{steps / seconds:.0f} |")
    print("\n| whole ingest (wall clock) | seconds | steps/s | vs 1 process |")
    print("|---|---:|---:|---:|")
    for workers, seconds in runs.items():
        print(f"| {workers} process{'es' if workers > 1 else ''} | {seconds:.2f} | {steps / seconds:.0f} | "
              f"{runs[1] / seconds:.2f}x |")
    print(f"\nidentical output with 1 and {args.workers} processes: {identical}")
    share = float(np.mean(ious >= 0.5))
    print(f"face boxes with IoU >= 0.5: {share:.2%} of steps (target {TARGET_IOU_SHARE:.0%}: "
          f"{'met' if share >= TARGET_IOU_SHARE else 'MISSED'}); mean IoU {ious.mean():.3f}; "
          f"face located at {found.mean():.1%} of steps")


if __name__ == "__main__":
    main()
