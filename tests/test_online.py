"""OnlineRecognizer: chunk sizes and push order do not matter, utterances are independent, streams with no
face, gaps or stalls are handled, and a stream that ends undecided gets the forced best guess."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
import torch
from media_files import burst, write_video

from agents import PolicySpec, evaluate
from agents.baselines import ThresholdPolicy
from emo_env.config import ConfigError
from emo_env.data.ingest import IngestParams
from emo_env.data.media import VideoFrame, read_media
from emo_env.data.steps import num_steps
from emo_online import Decision, OnlineRecognizer
from emo_online.cli import video_duration
from emo_online.step import RUNTIMES, step_runner
from pretrained_encoders.encoders import Encoders
from pretrained_encoders.models import build_model
from pretrained_encoders.models.frontends import face_prior_indices, with_face_prior

CLASSES = ["happy", "surprise", "sad", "fear", "anger", "disgust"]
NEVER = 2.0  # a threshold no probability reaches: the policy waits to the last step
HORIZON = 40  # steps: the longest clip of a store of 2-4 s clips


def random_encoders(seed: int = 0, visual_arch: str = "compact", audio_arch: str = "compact") -> Encoders:
    """Untrained encoders (compact unless told) with the default step parameters (speed and plumbing, not
    accuracy)."""
    spec = {"class_names": CLASSES, "modality": "fusion", "audio_arch": audio_arch, "visual_arch": visual_arch,
            "embed_dim": 16, "hidden_dim": 12, "mel_frames": 96, "mel_bands": 64, "face_size": 64,
            "data": asdict(IngestParams()), "face_prior": face_prior_indices(CLASSES)}
    torch.manual_seed(seed)
    models = {kind: build_model(kind, spec).eval() for kind in ("audio", "visual", "fusion", "familiarity")}
    temporals = {m: build_model(f"temporal_{m}", spec).eval() for m in ("audio", "visual", "fusion")}
    return Encoders(spec, temporals=temporals, **models)


def recognizer(threshold: float = NEVER, visual_arch: str = "compact", **options) -> OnlineRecognizer:
    """Untrained encoders and the threshold baseline on ``probs`` observations (no familiarity gate: untrained
    encoders know no training clips)."""
    k = len(CLASSES)
    policy = ThresholdPolicy(PolicySpec("probs", k + 1, k), {"threshold": threshold}, device="cpu")
    return OnlineRecognizer(random_encoders(visual_arch=visual_arch), policy, horizon_steps=HORIZON,
                            **{"familiarity": False, **options})


class Clip:
    """A decoded clip: RGB frames with their times and durations, and the audio track."""

    def __init__(self, path) -> None:
        items = list(read_media(path))
        self.frames = [(item.image, item.time, item.duration) for item in items if isinstance(item, VideoFrame)]
        self.audio = np.concatenate([item.samples for item in items if not isinstance(item, VideoFrame)])
        self.duration = self.frames[-1][1] + self.frames[-1][2]


def play(rec: OnlineRecognizer, clip: Clip, *, chunk: int = 1024, order: str = "interleaved") -> Decision | None:
    """Push ``clip`` (audio in ``chunk``-sample pieces) in ``order``: interleaved by time, video first or
    audio first; then finish. At most one push may return a decision, and finish() repeats it."""
    rec.reset(duration_s=clip.duration)
    rate = rec.sample_rate
    video = [(t, 0, (image, t, duration)) for image, t, duration in clip.frames]
    audio = [(start / rate, 1, (clip.audio[start:start + chunk], start / rate))
             for start in range(0, clip.audio.size, chunk)]
    events = {"interleaved": sorted(video + audio, key=lambda e: e[:2]), "video first": video + audio,
              "audio first": audio + video}[order]
    decisions = [d for _, kind, args in events
                 if (d := (rec.push_video(*args) if kind == 0 else rec.push_audio(*args))) is not None]
    assert len(decisions) <= 1
    final = rec.finish()
    if decisions:
        assert final is decisions[0]
    return final


def outcome(rec: OnlineRecognizer, decision: Decision | None) -> tuple:
    """Everything a run decided and observed, compute time aside."""
    observations = np.stack([r.observation for r in rec.history]) if rec.history else np.zeros(0)
    actions = [r.action for r in rec.history]
    if decision is None:
        return None, observations.tobytes(), actions
    fields = (decision.emotion, decision.step, decision.time_s, decision.forced, tuple(decision.probs.values()))
    return fields, observations.tobytes(), actions


@pytest.fixture(scope="module")
def clips(tiny_corpus) -> list[Clip]:
    table = pd.read_csv(tiny_corpus / "clips.csv")
    return [Clip(tiny_corpus / path) for path in table["path"][:2]]


def threshold_reached_mid_clip(clip: Clip, visual_arch: str = "compact") -> float:
    """A threshold the clip's top probability first reaches about half-way through (untrained encoders)."""
    rec = recognizer(visual_arch=visual_arch)
    play(rec, clip)
    return float(rec.history[len(rec.history) // 2].probs.max())


@pytest.fixture(scope="module")
def mid_threshold(clips) -> float:
    """A threshold the first clip's top probability first reaches about half-way through."""
    return threshold_reached_mid_clip(clips[0])


def test_decision_comes_mid_clip_from_the_policy(clips, mid_threshold):
    rec = recognizer(mid_threshold)
    decision = play(rec, clips[0])
    steps = num_steps(clips[0].duration, rec.step_rate)
    assert rec.total_steps == steps
    assert decision is not None and not decision.forced and decision.step <= steps // 2
    assert decision.step == len(rec.history) - 1  # nothing runs after the decision
    assert decision.emotion == CLASSES[int(rec.history[-1].probs.argmax())]
    assert decision.time_s == pytest.approx((decision.step + 1) / rec.step_rate)
    # the mel window centred on a step reaches 0.491 s past it: 0.441 s past the end of the step at 10 steps/s
    assert decision.latency_s == pytest.approx(0.441)
    assert decision.confidence >= mid_threshold
    never = recognizer()  # the same stream, a threshold nothing reaches: every step's belief
    play(never, clips[0])
    crossings = [step for step, state in enumerate(never.history) if state.probs.max() >= mid_threshold]
    assert decision.step == crossings[0]  # the first step whose belief reaches the threshold, no later


@pytest.fixture(scope="module")
def reference(clips, mid_threshold) -> tuple:
    """The outcome of the first clip, audio in 1024-sample chunks interleaved with the frames by time."""
    rec = recognizer(mid_threshold)
    return outcome(rec, play(rec, clips[0]))


@pytest.mark.parametrize("chunk", [1, 160, 16000])
def test_audio_chunk_size_does_not_change_anything(clips, mid_threshold, reference, chunk):
    rec = recognizer(mid_threshold)
    assert outcome(rec, play(rec, clips[0], chunk=chunk)) == reference


@pytest.mark.parametrize("order", ["video first", "audio first"])
def test_push_order_does_not_change_anything(clips, mid_threshold, reference, order):
    rec = recognizer(mid_threshold)
    assert outcome(rec, play(rec, clips[0], order=order)) == reference


def test_reset_starts_an_independent_utterance(clips):
    fresh = recognizer()
    expected = outcome(fresh, play(fresh, clips[1]))
    rec = recognizer()
    play(rec, clips[0])
    assert rec.done
    assert rec.push_audio(np.zeros(1600, np.float32)) is None  # decided: ignored until reset
    assert outcome(rec, play(rec, clips[1])) == expected


def test_stream_ending_undecided_gets_the_forced_best_guess(clips):
    rec = recognizer(utterance_s=10.0)  # a live stream: the length is not known in advance
    rec.reset()
    clip = clips[0]
    for image, t, duration in clip.frames:
        assert rec.push_video(image, t, duration) is None
    assert rec.push_audio(clip.audio, 0.0) is None
    assert rec.total_steps == 100 and not rec.done
    decision = rec.finish()
    steps = num_steps(clip.duration, rec.step_rate)
    assert decision is not None and decision.forced
    assert decision.step == steps - 1 == rec.history[-1].index
    assert decision.emotion == CLASSES[int(rec.history[-1].probs.argmax())]
    assert rec.history[-1].observation[-1] == pytest.approx(steps / HORIZON)  # time observed, not the clip's end
    assert rec.finish() is decision


def test_finish_before_any_step_gives_no_decision():
    rec = recognizer()
    assert rec.finish() is None
    rec.reset()
    rec.push_audio(np.zeros(800, np.float32), 0.0)
    rec.push_video(np.zeros((48, 64, 3), np.uint8), 0.0, 0.04)  # shorter than one step
    assert rec.finish() is None and rec.done


def test_stream_without_a_face_tracks_a_centred_square(tmp_path):
    path = write_video(tmp_path / "noface.mp4", seconds=1.5, size=(96, 64), audio=burst(1.6, 0.7))
    rec = recognizer()
    decision = play(rec, Clip(path))
    assert decision is not None and decision.forced and decision.step == num_steps(video_duration(path), 10.0) - 1
    assert not any(r.face_found for r in rec.history)
    assert all(np.allclose(r.box, [32, 16, 32, 32]) for r in rec.history)  # half the shorter side, centred


def test_audio_gap_is_zero_padded_and_overlap_dropped(clips, mid_threshold):
    clip = clips[0]
    audio = clip.audio.copy()
    audio[4000:9000] = 0.0
    explicit = recognizer(mid_threshold)
    explicit.reset()
    for frame in clip.frames:
        explicit.push_video(*frame)
    explicit.push_audio(audio, 0.0)
    expected = outcome(explicit, explicit.finish())

    rec = recognizer(mid_threshold)
    rec.reset()
    for frame in clip.frames:
        rec.push_video(*frame)
    rec.push_audio(clip.audio[:4000], 0.0)
    rec.push_audio(clip.audio[9000:], 9000 / 16000)  # 5000 samples lost
    assert outcome(rec, rec.finish()) == expected

    rec.reset()
    for frame in clip.frames:
        rec.push_video(*frame)
    rec.push_audio(audio[:9000], 0.0)
    rec.push_audio(np.concatenate([np.ones(1000, np.float32), audio[9000:]]), 8000 / 16000)  # repeats 1000
    assert rec.dropped["samples"] == 1000
    assert outcome(rec, rec.finish()) == expected


def test_stalled_audio_or_video_is_padded_with_max_lag(clips):
    clip = clips[0]
    half = clip.audio[: clip.audio.size // 4]
    for max_lag_s, runs_before_finish in ((None, False), (0.3, True)):
        rec = recognizer(max_lag_s=max_lag_s)
        rec.reset()
        rec.push_audio(half, 0.0)  # then the microphone stalls
        for frame in clip.frames:
            rec.push_video(*frame)
        assert bool(rec.history) == runs_before_finish
    rec = recognizer(max_lag_s=0.3)
    rec.reset()
    rec.push_video(*clip.frames[0])  # then the camera stalls
    rec.push_audio(clip.audio, 0.0)
    assert len(rec.history) >= num_steps(clip.audio.size / 16000 - 0.3 - 0.5, 10.0) - 1
    assert rec.finish() is not None


def test_out_of_order_frames_are_dropped_and_bad_input_is_a_clear_error(clips):
    rec = recognizer()
    rec.reset()
    for frame in clips[0].frames[:6]:
        rec.push_video(*frame)
    image, t, _ = clips[0].frames[3]
    assert rec.push_video(image, t) is None and rec.dropped["frames"] == 1
    with pytest.raises(ValueError, match="uint8 RGB"):
        rec.push_video(image.astype(np.float32), t + 0.1)
    with pytest.raises(ValueError, match="finite"):
        rec.push_audio(np.zeros(10, np.float32), float("nan"))
    with pytest.raises(ValueError, match=r"\[n\] or \[n, channels\]"):
        rec.push_audio(np.zeros((2, 2, 2), np.float32))


def test_one_step_call_gives_the_numbers_of_the_separate_encoders():
    encoders = random_encoders(visual_arch="fer2013", audio_arch="descriptors")
    runner = step_runner(encoders, "torch")
    rng = np.random.default_rng(0)
    states: dict[str, object] = {m: None for m in ("audio", "visual", "fusion")}
    for _ in range(4):
        mel = rng.standard_normal((96, 64)).astype(np.float16)
        face = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        out = runner(mel, face)
        with torch.inference_mode():
            mels, faces = torch.from_numpy(mel[None]), torch.from_numpy(face[None])
            audio, visual = encoders.audio(mels)[0], encoders.visual(faces)[0]
            voice, seen = encoders.audio.frontend(mels), encoders.visual.frontend(faces)
            embeddings = {"audio": audio, "fusion": encoders.fusion(audio, visual)[0],  # the visual model's prior too
                          "visual": with_face_prior(visual, seen, encoders.spec["face_prior"])}
            probs = {}
            for m, x in embeddings.items():
                probs[m], _, states[m] = encoders.temporals[m].step(x, states[m])
        for name, m in (("probs", "fusion"), ("probs_audio", "audio"), ("probs_visual", "visual")):
            assert np.array_equal(out[name], probs[m][0].numpy())
        assert np.array_equal(out["voice"], voice[0].numpy()) and np.array_equal(out["face"], seen[0].numpy())


@pytest.mark.parametrize("visual_arch", ["compact", "fer2013"])
def test_onnx_runtime_decides_as_torch(clips, visual_arch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    threshold = threshold_reached_mid_clip(clips[0], visual_arch)
    runs = {runtime: recognizer(threshold, visual_arch, runtime=runtime) for runtime in RUNTIMES}
    decisions = {runtime: play(rec, clips[0]) for runtime, rec in runs.items()}
    assert (decisions["onnx"].step, decisions["onnx"].emotion) == (decisions["torch"].step, decisions["torch"].emotion)
    assert not decisions["onnx"].forced  # answered mid-clip, so the probabilities decided it
    observations = {runtime: np.stack([r.observation for r in rec.history]) for runtime, rec in runs.items()}
    np.testing.assert_allclose(observations["onnx"], observations["torch"], atol=1e-3)  # float16-rounded


def test_onnx_runtime_matches_torch_on_digital_silence():
    """A muted microphone or a padded window (the log-mel at its floor everywhere) gives the same finite
    outputs in both runtimes."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    encoders = random_encoders(audio_arch="descriptors")
    silence = np.full((96, 64), np.log(IngestParams().mel_log_offset), np.float16)
    face = np.full((64, 64, 3), 128, np.uint8)
    outputs = {runtime: step_runner(encoders, runtime)(silence, face) for runtime in RUNTIMES}
    for name, value in outputs["torch"].items():
        assert np.isfinite(value).all() and np.isfinite(outputs["onnx"][name]).all(), name
        np.testing.assert_allclose(outputs["onnx"][name], value, atol=1e-4, err_msg=name)


def test_unknown_or_missing_runtime_is_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match=r"runtime must be one of \('torch', 'onnx'\), got 'tensorrt'"):
        recognizer(runtime="tensorrt")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(ImportError, match=r"runtime 'onnx' needs onnxruntime.*pip install 'emo-env\[onnx\]'"):
        recognizer(runtime="onnx")


def test_policy_that_does_not_fit_the_encoders_is_a_clear_error():
    policy = ThresholdPolicy(PolicySpec("belief", 40, 6), device="cpu")
    with pytest.raises(ValueError, match="40 values"):
        OnlineRecognizer(random_encoders(), policy, horizon_steps=HORIZON)


def test_encoders_from_an_older_ingest_are_a_clear_error():
    encoders = random_encoders()
    del encoders.spec["data"]["face_detect_every"]
    policy = ThresholdPolicy(PolicySpec("probs", 7, 6), device="cpu")
    with pytest.raises(ConfigError, match=r"spec\['data'\] has no face_detect_every: it was made by an older"):
        OnlineRecognizer(encoders, policy, horizon_steps=HORIZON)


def test_imports_load_only_the_layers_they_need():
    import subprocess
    import sys

    loaded = ("import sys, {}; print(' '.join(m for m in ('torch', 'agents', 'pretrained_encoders', "
              "'stable_baselines3', 'sb3_contrib') if m in sys.modules))")
    run = {package: subprocess.run([sys.executable, "-c", loaded.format(package)], capture_output=True, text=True)
           for package in ("emo_env", "emo_online")}
    assert run["emo_env"].stdout.split() == []  # the env needs neither torch nor the layers above it
    assert run["emo_online"].stdout.split() == ["torch", "agents", "pretrained_encoders"]  # no stable-baselines3


def test_the_default_recognizer_uses_a_threshold_tuned_on_the_training_split():
    from agents.baselines import threshold_sweep
    from agents.training import env_spec
    from emo_env.envs.episodes import open_store

    store = open_store(None)
    kwargs = {"store": store, "obs_mode": "probs"}
    grid = threshold_sweep(env_spec(store, "probs"), kwargs, split="train")
    recognizer = OnlineRecognizer.from_default()
    tuned = evaluate(recognizer.policy, kwargs, "train").metrics.mean_return
    assert tuned >= grid["mean_return"].max()  # tuned over every threshold: no grid point does better
    assert "tuned on the training split" in recognizer.policy_name
    assert OnlineRecognizer.from_default(threshold=0.8).policy.config.threshold == 0.8
