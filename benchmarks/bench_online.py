"""Per-step cost of the online recognizer on one CPU thread, today's path against the new ones.

The ways to run the recognizer are measured in the same run, stage by stage and end to end:

- **today**: the path before the faster defaults: the face detector at every 3rd step with a scale
  step of 1.1, whole frames searched at 320 pixels wide, and the encoders called one by one in torch;
- **torch**: the tracker of the default ``data`` settings (``face_detect_every``, ``face_scale_step``,
  ``face_detect_width``)
  and the encoders and temporal step in one torch call (the default runtime);
- **onnx**: the same in one ONNX Runtime call, when the ``onnx`` extra is installed.

Stages, over the steps of generated clips (320x240 video at 30 fps, 3 s): face tracking (the Haar
detector searching the track's neighbourhood every ``face_detect_every`` steps and the face's
appearance followed in between, the whole frame when the track is lost), the log-mel window, the
encoders and one step of the temporal LSTM (separate torch calls today, one call on the new
paths), and the observation plus the threshold policy. The total is the recognizer end to
end (frames and 1024-sample audio chunks pushed as they would arrive, a policy that never answers so
every step runs), against the reference of real time: the step period (100 ms at 10 steps/s).
Decoding the video is reported apart (a camera delivers RGB frames). The ``alt:`` rows, measured
with the new tracker settings, show a learned policy's extra cost (the default DQN's Q-network) and
what the tracker's interval saves (detection at every step).

Times are CPU seconds of this process (``time.process_time``, one torch and one OpenCV thread),
best of ``--repeats`` passes, so other processes' CPU time does not count (their pressure on the
caches does: the end-to-end total, where stages evict each other's data, is the honest figure). Usage::

    python benchmarks/bench_online.py [--encoders encoders.pt] [--video CLIP.mp4 ...] [--repeats 3]

Without ``--encoders``: the bundled encoders, or untrained encoders of the default architecture (the voice
descriptors and the FER2013 network as front ends; the cost does not depend on the weights). The last line
compares them, end to end on the fastest path, with untrained compact CNNs of the same dimensions (the
encoders before the front ends).
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from agents import PolicySpec, get_agent
from agents.baselines import ThresholdPolicy
from emo_env.data.faces import TIME_TOLERANCE, FaceTracker
from emo_env.data.ingest import IngestParams
from emo_env.data.media import AudioChunk, VideoFrame, read_media
from emo_env.data.steps import Step
from emo_env.data.synthetic import generate_corpus
from emo_env.envs.observations import build_observation
from emo_online import OnlineRecognizer
from emo_online.step import step_runner
from pretrained_encoders import bundled_encoders_path
from pretrained_encoders.encoders import Encoders, load_encoders
from pretrained_encoders.models import build_model
from pretrained_encoders.models.frontends import face_prior_indices

TODAY_DETECT_EVERY, TODAY_SCALE_STEP, TODAY_DETECT_WIDTH = 3, 1.1, 320  # the tracker before the faster defaults
CLASSES = ["happy", "surprise", "sad", "fear", "anger", "disgust"]


class Clip:
    """A decoded clip: RGB frames (time, duration, image), audio, and its steps as ingest computes them."""

    def __init__(self, path: Path, params: IngestParams) -> None:
        started = time.process_time()
        items = list(read_media(path, sample_rate=params.sample_rate))
        self.frames = [(item.time, item.duration, item.image) for item in items if isinstance(item, VideoFrame)]
        self.decode_s = time.process_time() - started
        self.audio = np.concatenate([item.samples for item in items if not isinstance(item, VideoFrame)])
        sampler = params.sampler()
        self.steps: list[Step] = []
        for frame in self.frames:
            self.steps += sampler.push(VideoFrame(*frame))
        self.steps += sampler.push(AudioChunk(self.audio))
        self.steps += sampler.finish()


def untrained_encoders(audio_arch: str, visual_arch: str) -> Encoders:
    """Untrained encoders of the given architectures (64-dim embeddings and LSTM state, as the defaults)."""
    spec = {"class_names": CLASSES, "modality": "fusion", "audio_arch": audio_arch, "visual_arch": visual_arch,
            "embed_dim": 64, "hidden_dim": 64, "mel_frames": 96, "mel_bands": 64, "face_size": 64,
            "data": asdict(IngestParams()), "face_prior": face_prior_indices(CLASSES)}
    torch.manual_seed(0)
    models = {kind: build_model(kind, spec).eval() for kind in ("audio", "visual", "fusion", "familiarity")}
    temporals = {m: build_model(f"temporal_{m}", spec).eval() for m in ("audio", "visual", "fusion")}
    return Encoders(spec, temporals=temporals, **models)  # type: ignore[arg-type]


def default_encoders(path: Path | None) -> tuple[Encoders, str]:
    if path is not None:
        return load_encoders(path), str(path)
    bundled = Path(bundled_encoders_path())
    if bundled.is_file():
        return load_encoders(bundled), "bundled"
    return untrained_encoders("descriptors", "fer2013"), "untrained, default architecture"


def per_step(run: Callable[[], int], repeats: int) -> float:
    """Best CPU seconds per step of ``run`` (which returns the number of steps it did)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        steps = run()
        best = min(best, (time.process_time() - started) / steps)
    return best


def tracking(clips: Sequence[Clip], params: IngestParams, **tracker_options: float) -> int:
    """Track the faces of ``clips`` step by step, as the step sampler does (frames pushed in time order)."""
    count = 0
    for clip in clips:
        tracker = FaceTracker(params.face_size, **{"detect_every": params.face_detect_every,
                                                   "scale_step": params.face_scale_step,
                                                   "detect_width": params.face_detect_width, **tracker_options})
        frames = iter(clip.frames)
        frame = next(frames, None)
        for step in clip.steps:
            while frame is not None and frame[0] <= step.time + TIME_TOLERANCE:
                tracker.push(VideoFrame(*frame))
                frame = next(frames, None)
            tracker.crop_at(step.time)
            count += 1
    return count


def log_mels(clips: Sequence[Clip], params: IngestParams) -> int:
    count = 0
    for clip in clips:
        mels = params.sampler().mels
        mels.push(clip.audio)
        mels.finish()
        for step in clip.steps:
            mels.window_at(step.time)
            count += 1
    return count


@dataclass(frozen=True)
class Variant:
    """One way to run the recognizer: its tracker settings and the runtime of its encoders."""

    name: str
    params: IngestParams
    runtime: str


@torch.no_grad()
def stage_costs(encoders: Encoders, clips: Sequence[Clip], variants: Sequence[Variant], repeats: int
                ) -> dict[str, list[float | None]]:
    """CPU seconds per step of each stage, per variant (None: the stage is not on that variant's path)."""
    steps = [step for clip in clips for step in clip.steps]
    mels = [torch.from_numpy(s.mel.astype(np.float16)[None]) for s in steps]
    faces = [torch.from_numpy(s.face.image[None]) for s in steps]
    audio = [encoders.audio(m)[0] for m in mels]
    visual = [encoders.visual(f)[0] for f in faces]
    fused = [encoders.fusion(a, v)[0] for a, v in zip(audio, visual, strict=True)]
    k = len(encoders.class_names)
    threshold = ThresholdPolicy(PolicySpec("probs", k + 1, k), {"threshold": 2.0}, device="cpu")
    dqn = get_agent("dqn")(PolicySpec("belief", 3 * k + 1, k), device="cpu")
    mask = np.ones((1, k + 1), np.int8)
    parts = {name: np.full(k, 1 / k, np.float32) for name in ("probs", "probs_audio", "probs_visual")}

    def each(fn: Callable[[int], object]) -> Callable[[], int]:
        def run() -> int:
            for i in range(len(steps)):
                fn(i)
            return len(steps)
        return run

    def temporal() -> int:
        state = None
        for x in fused:
            _, _, state = encoders.temporal.step(x, state)
        return len(fused)

    def runner_steps(runtime: str) -> Callable[[], int]:
        runner = step_runner(encoders, runtime)
        for step in steps[:5]:  # warm-up
            runner(step.mel, step.face.image)

        def run() -> int:
            runner.reset()
            for step in steps:
                runner(step.mel, step.face.image)
            return len(steps)
        return run

    def policy(p) -> Callable[[int], object]:
        mode = p.spec.obs_mode
        return lambda i: p.act(build_observation(mode, fraction=0.5, **parts)[None], mask)

    def on(run: Callable[[], int], where: Callable[[Variant], bool] = lambda v: True) -> list[float | None]:
        """The cost of ``run`` in the columns of the variants ``where`` holds for (it is measured once)."""
        value = per_step(run, repeats)
        return [value if where(variant) else None for variant in variants]

    def is_today(variant: Variant) -> bool:
        return variant is variants[0]

    def is_last(variant: Variant) -> bool:
        return variant is variants[-1]

    for model, inputs in ((encoders.audio, mels), (encoders.visual, faces)):  # warm-up
        for x in inputs[:5]:
            model(x)
    costs = {"face tracking": [per_step(lambda v=variant: tracking(clips, v.params), repeats)
                               for variant in variants],
             "log-mel window (its 10 new frames)": on(lambda: log_mels(clips, variants[0].params)),
             "audio encoder": on(each(lambda i: encoders.audio(mels[i])), is_today),
             "visual encoder": on(each(lambda i: encoders.visual(faces[i])), is_today),
             "fusion network": on(each(lambda i: encoders.fusion(audio[i], visual[i])), is_today),
             "temporal LSTM step": on(temporal, is_today)}
    for runtime in dict.fromkeys(variant.runtime for variant in variants[1:]):
        costs[f"encoders + LSTM step, one {runtime} call"] = on(
            runner_steps(runtime), lambda v, r=runtime: v.runtime == r and not is_today(v))
    base = variants[-1].params
    costs |= {"observation + threshold policy": on(each(policy(threshold))),
              "alt: observation + DQN policy (default network)": on(each(policy(dqn)), is_last),
              "alt: full-frame detection every step": on(
                  lambda: tracking(clips, base, reacquire_after=0, detect_every=1), is_last),
              "alt: detection near the track every step": on(lambda: tracking(clips, base, detect_every=1), is_last)}
    return costs


def end_to_end(encoders: Encoders, clips: Sequence[Clip], variant: Variant, repeats: int) -> tuple[float, float]:
    """CPU seconds per step of the recognizer run as ``variant`` and fed the clips as a stream, and its
    algorithmic latency."""
    k = len(encoders.class_names)
    policy = ThresholdPolicy(PolicySpec("probs", k + 1, k), {"threshold": 2.0}, device="cpu")
    spec = {**encoders.spec, "data": asdict(variant.params)}
    rec = OnlineRecognizer(replace(encoders, spec=spec), policy, horizon_steps=40, runtime=variant.runtime)

    def run() -> int:
        count = 0
        for clip in clips:
            rec.reset(start_s=0.0, duration_s=clip.frames[-1][0] + clip.frames[-1][1])
            events = [(t, 0, (image, t, duration)) for t, duration, image in clip.frames]
            events += [(i / rec.sample_rate, 1, (clip.audio[i:i + 1024], i / rec.sample_rate))
                       for i in range(0, clip.audio.size, 1024)]
            for _, kind, args in sorted(events, key=lambda e: e[:2]):
                rec.push_video(*args) if kind == 0 else rec.push_audio(*args)
            rec.finish()
            count += len(rec.history)
        return count

    return per_step(run, repeats), rec.latency_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoders", type=Path, help="encoders.pt (default: bundled, else untrained)")
    parser.add_argument("--video", type=Path, nargs="*", help="clips to play (default: 2 generated 3 s clips)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    encoders, source = default_encoders(args.encoders)
    params = IngestParams.from_section(encoders.spec["data"], "the encoders' spec['data']")
    with tempfile.TemporaryDirectory() as tmp:
        videos = args.video
        if not videos:
            generate_corpus(tmp, speakers=1, clips_per_emotion=1, min_duration_s=3.0, max_duration_s=3.0, workers=1)
            videos = sorted(Path(tmp).glob("s1/*.mp4"))[:2]
        clips = [Clip(path, params) for path in videos]
    onnx = all(importlib.util.find_spec(name) for name in ("onnxruntime", "onnxscript"))
    before = replace(params, face_detect_every=TODAY_DETECT_EVERY, face_scale_step=TODAY_SCALE_STEP,
                     face_detect_width=TODAY_DETECT_WIDTH)
    variants = [Variant("today", before, "torch"), Variant("torch", params, "torch")]
    variants += [Variant("onnx", params, "onnx")] if onnx else []
    steps = sum(len(clip.steps) for clip in clips)
    costs = stage_costs(encoders, clips, variants, args.repeats)
    totals = [end_to_end(encoders, clips, variant, args.repeats) for variant in variants]
    period = 1 / params.step_rate
    print(f"encoders: {source}; {len(clips)} clips, {steps} steps at {params.step_rate:g} steps/s; "
          f"1 torch + 1 OpenCV thread; CPU ms per step, best of {args.repeats}\n")
    for variant in variants:
        print(f"{variant.name}: {variant.runtime} runtime; face detector every "
              f"{variant.params.face_detect_every} steps, scale step {variant.params.face_scale_step:g}, "
              f"whole frames at {variant.params.face_detect_width} pixels wide")
    header = "".join(f" | {variant.name:>8} | {'of total':>8}" for variant in variants)
    print(f"\n| {'stage':<48}{header} |")
    print(f"|{'-' * 50}" + f"|{'-' * 9}:|{'-' * 9}:" * len(variants) + "|")
    pipeline = [name for name in costs if not name.startswith("alt:")]
    rows = list(costs.items())
    rows.append(("sum of the stages above (not alt:)",
                 [sum(costs[name][i] or 0.0 for name in pipeline) for i in range(len(variants))]))
    rows.append(("**total: recognizer end to end**", [total for total, _ in totals]))
    rows.append(("(apart) decoding the video file", [sum(c.decode_s for c in clips) / steps] * len(variants)))
    for name, values in rows:
        cells = "".join(" |        - |        -" if v is None else f" | {1000 * v:8.3f} | {100 * v / t:7.1f}%"
                        for v, (t, _) in zip(values, totals, strict=True))
        print(f"| {name:<48}{cells} |")
    (today, _), (new, latency) = totals[0], totals[-1]
    previous, _ = end_to_end(untrained_encoders("compact", "compact"), clips, variants[-1], args.repeats)
    print(f"\nfront ends ({encoders.spec['audio_arch']} + {encoders.spec['visual_arch']}) / the compact CNNs "
          f"before them, {variants[-1].name} end to end: {new / previous:.2f}x "
          f"({1000 * previous:.2f} -> {1000 * new:.2f} ms per step)")
    for variant, (total, _) in zip(variants[1:], totals[1:], strict=True):
        print(f"\n{variant.name} / today, end to end: {total / today:.2f}x "
              f"({1000 * today:.2f} -> {1000 * total:.2f} ms per step)", end="")
    print(" (without the onnx extra: pip install -e '.[onnx]')" if not onnx else "")
    print(f"real-time factor at {params.step_rate:g} steps/s: step period {1000 * period:.0f} ms / "
          f"{1000 * new:.2f} ms per step = {period / new:.1f}x faster than real time "
          f"(goal: 10x, i.e. under {100 * period:.0f} ms per step)")
    print(f"algorithmic latency (the mel window's lookahead past the decision time, not compute): {latency:.3f} s")


if __name__ == "__main__":
    main()
