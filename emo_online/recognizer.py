"""The streaming recognizer: frames and audio in as they arrive, a decision out as soon as the policy answers.

Each step runs once, when its inputs are complete, with the code ingest uses
(:class:`~emo_env.data.steps.StepSampler`: face tracker and log-mel extractor), then the audio,
visual and fusion encoders on that one step, one step of the temporal LSTM (its state carries
over), the observation of :func:`~emo_env.envs.observations.build_observation` and the policy.
Features are rounded to the feature store's precision (float16) before they reach the policy,
as in the store the policy was trained on, so a clip gives the decisions of the offline
pipeline (ingest, store, env) at the same step.

Algorithmic latency. Step ``i`` is at ``t_i = (i + 0.5) / step_rate`` and needs the log-mel window
centred on ``t_i``: audio up to ``t_i + span / 2`` (``span`` = the window's samples, 0.982 s at the
defaults, so 0.491 s of lookahead). A decision at step ``i`` covers ``time_s = (i + 1) / step_rate``
seconds of the utterance (the env's ``decision_time_s``) and can be made ``latency_s`` =
``t_i + span / 2 - time_s`` = 0.441 s later at the defaults (10 steps/s, 0.96 s window), plus the
compute time. (The face needs a frame later than ``t_i``: at most one frame period, well within
that.) A shorter ``mel_window_s`` at ingest and training time shortens it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from agents.baselines import ThresholdPolicy
from agents.policy import PolicySpec
from agents.registry import load_policy
from emo_env.artifacts import bundled_store_path
from emo_env.data.ingest import IngestParams
from emo_env.data.media import AudioChunk, VideoFrame
from emo_env.data.steps import Step, num_steps
from emo_env.data.store import load_store
from emo_env.envs.observations import FRONTEND_PARTS, OBS_MODES, build_observation, horizon_steps
from pretrained_encoders import bundled_encoders_path
from pretrained_encoders.encoders import Encoders, load_encoders
from pretrained_encoders.models.familiarity import FAMILIARITY_PARTS
from pretrained_encoders.models.frontends import FRONTEND_DIMS

from .loading import check_encoders, find_run, load_run_encoders
from .step import step_runner

__all__ = ["Decision", "StepRecord", "PolicyLike", "OnlineRecognizer"]

AUDIO_TOLERANCE_S = 0.02  # audio timestamps this close to the running sample clock count as contiguous
BOTH = ("audio", "visual")  # a voice and a face
FRONTEND_OF = {"audio": "voice", "visual": "face"}
FAMILIARITY_GATE = 1.5  # a modality more unfamiliar than this does not answer while another one can


class PolicyLike(Protocol):
    """What the recognizer needs of a policy (``agents.Policy`` has it)."""

    spec: Any  # .obs_mode, .obs_dim, .num_classes

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray: ...

    def reset(self, episode_start: np.ndarray) -> None: ...


@dataclass(frozen=True)
class Decision:
    """The answer for one utterance."""

    emotion: str
    class_index: int
    probs: dict[str, float]  # temporal model's class probabilities at the decision step
    step: int  # 0-based step of the decision
    time_s: float  # seconds of the utterance observed: (step + 1) / step_rate, as the env's decision_time_s
    latency_s: float  # algorithmic latency: how long after time_s the step's inputs are complete (0 without audio)
    compute_s: float  # wall time spent in the call that made the decision
    forced: bool  # made at the last step, where waiting is not allowed (or by finish())
    modalities: tuple[str, ...] = BOTH  # what the probabilities came from (the temporal model's, or one modality's)
    unfamiliarity: dict[str, float] = field(default_factory=dict)  # per modality: OnlineRecognizer.unfamiliarity

    @property
    def confidence(self) -> float:
        """The probability of the decided class."""
        return self.probs[self.emotion]

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for JSON)."""
        return {f.name: list(value) if isinstance(value := getattr(self, f.name), tuple) else value
                for f in fields(self)}


@dataclass(frozen=True)
class StepRecord:
    """What the recognizer saw and did at one step."""

    index: int
    time_s: float  # step time t_i (the face frame shown then, the mel window centred there)
    box: np.ndarray  # float32 [4]: face box x, y, w, h in frame pixels
    face_found: bool  # the face was detected or followed (else the held box, or a centred square before any)
    probs: np.ndarray = field(repr=False)  # float32 [K], as the policy saw them
    observation: np.ndarray = field(repr=False)  # float32 [obs_dim]: what the policy saw
    action: int  # 0 = wait, 1 + k = class k
    modalities: tuple[str, ...] = BOTH  # what the probabilities came from; none: nothing present yet (it waits)


class OnlineRecognizer:
    """Streaming audio-visual emotion recognition for one utterance at a time.

    Push data as it arrives, in any chunk sizes and in either order (times are seconds on one
    clock): :meth:`push_video` and :meth:`push_audio` run every step whose face frame and full
    audio window are available and return a :class:`Decision` when the policy answers (then the
    utterance is decided and later pushes are ignored until :meth:`reset`). :meth:`finish` ends
    the stream and returns the decision, forcing one at the last step if none was made.

    The observation's time observed is ``min((step + 1) / horizon_steps, 1)`` as in the env
    (``horizon_steps``: the longest clip of the store the policy was trained on). The decision is
    forced at step ``T - 1``, as the env forces it at a clip's last step: ``T`` is
    ``num_steps(duration_s)`` when :meth:`reset` is given the utterance's duration (a file), else
    ``utterance_s`` seconds (default: the horizon; a live stream), and :meth:`finish` shortens it
    to the steps that came. Missing faces keep the track (as ingest does), audio
    gaps are zero-padded, overlapping audio and out-of-order frames are dropped (counted in
    :attr:`dropped`). With ``max_lag_s``, a stalled stream does not hold the other back: audio
    more than ``max_lag_s`` behind the video is zero-padded, and video that far behind the audio
    repeats its last frame.

    One modality alone is answered too. A stream without audio (``reset(audio=False)``: a file without an
    audio track, a camera without a microphone) runs its steps on video time, and a stream whose face has
    not been found yet has no visual modality. When a modality the temporal model was trained on is
    absent, the probabilities are those of the present modality's own temporal model (calibrated as the
    fused one is; the absent modality's probabilities in ``belief`` observations are uniform), and
    :attr:`Decision.modalities` names that modality. Before any modality is present the recognizer
    waits; with none at the end there is no decision.

    ``runtime`` runs the encoders in ``"torch"`` (default) or in ``"onnx"`` (ONNX Runtime, several times
    cheaper per step; the ``onnx`` extra), see :mod:`emo_online.step`.
    """

    def __init__(
        self,
        encoders: Encoders,
        policy: PolicyLike,
        *,
        horizon_steps: int,
        modality: str | None = None,
        utterance_s: float | None = None,
        max_lag_s: float | None = None,
        feature_dtype: np.dtype | type = np.float16,
        policy_name: str | None = None,
        runtime: str = "torch",
        familiarity: bool = True,
    ) -> None:
        obs_mode = policy.spec.obs_mode
        if obs_mode not in OBS_MODES:
            raise ValueError(f"policy obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")
        if modality is not None and obs_mode != "frame" and modality != encoders.modality:
            raise ValueError(f"obs_mode {obs_mode!r} uses the temporal model's modality {encoders.modality!r}, "
                             f"not {modality!r}")
        if horizon_steps < 1 or any(v is not None and not v > 0 for v in (utterance_s, max_lag_s)):
            raise ValueError(f"need horizon_steps >= 1 and utterance_s, max_lag_s > 0 (or None), got "
                             f"{horizon_steps}, {utterance_s} and {max_lag_s}")
        self.params = IngestParams.from_section(encoders.spec["data"], "the encoders' spec['data']")
        self.encoders = encoders
        self.policy = policy
        self.policy_name = policy_name or type(policy).__name__
        self.obs_mode = obs_mode
        self.modality = modality or encoders.modality
        self.needs = BOTH if encoders.modality == "fusion" else (encoders.modality,)  # the temporal model's inputs
        self.class_names = encoders.class_names
        self.step_rate = float(self.params.step_rate)
        self.sample_rate = int(self.params.sample_rate)
        self.horizon_steps = int(horizon_steps)
        self.utterance_s = self.horizon_steps / self.step_rate if utterance_s is None else float(utterance_s)
        self.max_lag_s = max_lag_s
        self.feature_dtype = np.dtype(feature_dtype)
        self.runtime = runtime
        self.familiarity_gate = FAMILIARITY_GATE if familiarity else None
        self._novelty_limits = {name: encoders.familiarity.limit(FRONTEND_OF[name]) for name in BOTH}
        self._step = step_runner(encoders, runtime)
        self.reset()
        self.latency_s = self._sampler.mels.span / 2 / self.sample_rate - 0.5 / self.step_rate
        self._check_policy()

    @classmethod
    def from_run(cls, path: str | Path, *, encoders: str | Path | None = None, device: str = "cpu",
                 **options: Any) -> OnlineRecognizer:
        """The recognizer of an agent run of ``train_agent.py`` (its folder or its ``policy.pt``): the
        run's policy, and the encoders that exported the feature store it was trained on (found from
        the store, or ``encoders``); ``options`` go to the constructor."""
        run = find_run(path)
        policy = load_policy(run.policy, device=device)
        return cls(load_run_encoders(run.store, encoders, device), policy, horizon_steps=horizon_steps(run.store),
                   modality=run.modality, feature_dtype=run.store.features["probs"].dtype, policy_name=policy.name,
                   **options)

    @classmethod
    def from_default(cls, *, threshold: float | None = None, device: str = "cpu", **options: Any) -> OnlineRecognizer:
        """The bundled encoders of the synthetic corpus with the threshold baseline as the policy (no
        trained policy is bundled): answer once the top class probability reaches ``threshold``, by
        default the one with the highest mean return on the bundled store's training split."""
        paths = bundled_store_path(), bundled_encoders_path()
        missing = [str(path) for path in paths if not Path(path).is_file()]
        if missing:
            raise FileNotFoundError(f"the bundled encoders are missing ({', '.join(missing)}): rebuild them with "
                                    "`python -m pretrained_encoders.bundle`, or pass an agent run")
        store = load_store(paths[0])
        encoders = load_encoders(paths[1], device)
        check_encoders(encoders, store, paths[1])
        k = len(encoders.class_names)
        policy = ThresholdPolicy(PolicySpec("probs", k + 1, k), {"threshold": threshold}, device=device)
        policy.learn({"store": store, "obs_mode": "probs", "split": "train"}, 0)  # tunes an unset threshold
        name = (f"threshold {policy.config.threshold:g}"
                + ("" if threshold is not None else " (tuned on the training split)"))
        return cls(encoders, policy, horizon_steps=horizon_steps(store), policy_name=name,
                   feature_dtype=store.features["probs"].dtype, **options)

    # -- the stream --------------------------------------------------------------------------------
    def reset(self, start_s: float | None = None, duration_s: float | None = None, *, audio: bool = True) -> None:
        """Start a new utterance at ``start_s`` (default: the first time pushed) lasting ``duration_s``
        seconds if known (default: up to ``utterance_s``); ``audio=False``: no audio will come (the
        answer comes from the face alone)."""
        self._sampler = self.params.sampler()
        self._start = start_s
        self._total = num_steps(self.utterance_s if duration_s is None else duration_s, self.step_rate)
        self._audio_end = 0  # samples of the utterance pushed so far
        self._hears = audio
        self._face_seen = False  # a face was found at some step of this utterance
        self._novelty = dict.fromkeys(BOTH, 0.0)  # summed novelty of each modality's front-end features
        self._novel_steps = dict.fromkeys(BOTH, 0)
        self._last_frame: VideoFrame | None = None
        self._step.reset()
        self._finished = False
        self.decision: Decision | None = None
        self.history: list[StepRecord] = []
        self.dropped = {"frames": 0, "samples": 0}
        self.policy.reset(np.ones(1, dtype=bool))

    @property
    def done(self) -> bool:
        """Whether this utterance is decided (or finished without any step)."""
        return self.decision is not None or self._finished

    @property
    def start_s(self) -> float:
        """When the utterance began, on the clock of the pushed times (0 until a time is pushed)."""
        return self._start or 0.0

    @property
    def total_steps(self) -> int:
        """``T``: the steps this utterance is expected to have (the decision is forced at ``T - 1``)."""
        return self._total

    def push_video(self, frame: np.ndarray | Callable[[], np.ndarray], t: float,
                   duration: float | None = None) -> Decision | None:
        """Add the frame shown from ``t`` seconds (uint8 RGB ``[H, W, 3]``, or a function returning it, as
        :class:`~emo_env.data.media.VideoFrame` takes) for ``duration`` seconds (default: the interval since
        the previous frame)."""
        if isinstance(frame, np.ndarray) and (frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3):
            raise ValueError(f"a video frame must be uint8 RGB [H, W, 3], got {frame.dtype} {list(frame.shape)}")
        if self.done:
            return None
        began = time.perf_counter()
        t = self._relative(t)
        shown = max(t, 0.0)  # a frame from before the utterance began is the one on screen when it begins
        last = self._last_frame
        if last is not None and shown < last.time:
            self.dropped["frames"] += 1
            return None
        if duration is None:
            duration = 0.0 if last is None else shown - last.time
        steps = self._push_frame(VideoFrame(shown, float(duration), frame))
        if not self._hears:  # silence for every window up to this frame: its steps run on video time
            steps += self._pad_audio(round(shown * self.sample_rate) + self._sampler.mels.span)
        elif self.max_lag_s is not None:
            steps += self._pad_audio(round((t - self.max_lag_s) * self.sample_rate))
        return self._run(steps, began)

    def push_audio(self, samples: np.ndarray, t: float | None = None) -> Decision | None:
        """Add mono samples at the recognizer's ``sample_rate`` (float in [-1, 1], or int16; ``[n]``,
        or ``[n, channels]``, averaged), the first one at ``t`` seconds (default: right after the
        previous chunk)."""
        samples = _mono(samples)
        if not self._hears:
            raise ValueError("this utterance was reset with audio=False: push no audio")
        if self.done:
            return None
        began = time.perf_counter()
        if t is not None:
            gap = round(self._relative(t) * self.sample_rate) - self._audio_end
            if gap > AUDIO_TOLERANCE_S * self.sample_rate:
                samples = np.concatenate([np.zeros(gap, np.float32), samples])
            elif gap < -AUDIO_TOLERANCE_S * self.sample_rate:
                overlap = min(-gap, samples.size)
                self.dropped["samples"] += overlap
                samples = samples[overlap:]
        if not samples.size:
            return None
        steps = self._sampler.push(AudioChunk(samples))
        self._audio_end += samples.size
        last = self._last_frame
        if self.max_lag_s is not None and last is not None:
            behind = self._audio_end / self.sample_rate - self.max_lag_s
            if last.time < behind:  # the video stalls: its last frame stays on screen
                steps += self._push_frame(VideoFrame(behind, 0.0, last.source))
        return self._run(steps, began)

    def finish(self) -> Decision | None:
        """End of the stream: run the remaining steps (audio past the end is silence) and return the
        utterance's decision, forced at its last step if the policy has not answered (None when not
        even one step came)."""
        if self.done:
            return self.decision
        began = time.perf_counter()
        self._finished = True
        steps = self._sampler.finish()
        self._total = max(1, min(self._total, num_steps(self._sampler.duration, self.step_rate)))
        decision = self._run(steps, began)
        if decision is None and self.history:  # the last step came before the end was known: force it
            last = self.history[-1]
            if last.modalities:
                decision = self._decide(last.index, last.probs, self._act(last.observation, last.probs, final=True),
                                        began, final=True, modalities=last.modalities)
        return decision

    # -- one step ----------------------------------------------------------------------------------
    def _relative(self, t: float) -> float:
        if not math.isfinite(t):
            raise ValueError(f"timestamps must be finite seconds, got {t}")
        if self._start is None:
            self._start = float(t)
        return float(t) - self._start

    def _pad_audio(self, end: int) -> list[Step]:
        """Silence up to sample ``end`` of the utterance (nothing if the audio is already there)."""
        if end <= self._audio_end:
            return []
        steps = self._sampler.push(AudioChunk(np.zeros(end - self._audio_end, np.float32)))
        self._audio_end = end
        return steps

    def _push_frame(self, frame: VideoFrame) -> list[Step]:
        self._last_frame = frame
        return self._sampler.push(frame)

    def _run(self, steps: list[Step], began: float) -> Decision | None:
        for step in steps:
            self._face_seen = self._face_seen or step.face.found
            present = tuple(name for name, seen in zip(BOTH, (self._hears, self._face_seen), strict=True) if seen)
            outputs = self._step(step.mel, step.face.image)  # mel windows in float16, as ingest stores them
            for name in present:
                self._novelty[name] += float(outputs["novelty"][FAMILIARITY_PARTS.index(FRONTEND_OF[name])])
                self._novel_steps[name] += 1
            modalities = self._answering(present)
            parts = self._parts(outputs, modalities)
            obs = build_observation(self.obs_mode, fraction=min((step.index + 1) / self.horizon_steps, 1.0), **parts)
            final = step.index == self._total - 1
            action = self._act(obs, parts["probs"], final) if modalities else 0
            self.history.append(StepRecord(step.index, step.time, step.face.box, step.face.found, parts["probs"], obs,
                                           action, modalities))
            if action:
                return self._decide(step.index, parts["probs"], action, began, final, modalities)
        return None

    @property
    def unfamiliarity(self) -> dict[str, float]:
        """Per present modality, the mean novelty of its front-end features so far over the largest whole-clip
        mean among the training clips (:class:`~pretrained_encoders.models.familiarity.Familiarity`): at most 1
        on every training clip."""
        return {name: self._novelty[name] / self._novel_steps[name] / self._novelty_limits[name]
                for name in BOTH if self._novel_steps[name]}

    def _answering(self, present: tuple[str, ...]) -> tuple[str, ...]:
        """The modalities the answer comes from: the temporal model's when all of them are present and familiar
        enough, else the present and familiar one; when none is, the face if present (its front end learned from
        real photographs, the voice's top from the training corpus alone)."""
        if self.familiarity_gate is not None:
            unfamiliar = self.unfamiliarity
            familiar = tuple(name for name in present if unfamiliar[name] <= self.familiarity_gate)
            present = familiar or (("visual",) if "visual" in present else present)
        return self.needs if set(self.needs) <= set(present) else present

    def _parts(self, outputs: dict[str, np.ndarray], modalities: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The parts of the observation, rounded as the store rounds them. When one modality answers
        (``modalities`` is not the temporal model's), ``probs`` are its own temporal model's, and an absent
        modality's probabilities are uniform. With the familiarity gate on, the probabilities are tempered by
        the answering modalities' unfamiliarity beyond 1 (a temperature of the largest of them)."""
        k = len(self.class_names)
        if modalities != self.needs:
            uniform = np.full(k, 1.0 / k, np.float32)
            for name in BOTH:
                if name not in modalities:
                    outputs[f"probs_{name}"] = uniform
            outputs["probs"] = outputs[f"probs_{modalities[0]}"] if modalities else uniform
        if self.familiarity_gate is not None and modalities:
            unfamiliar = self.unfamiliarity
            temperatures = {f"probs_{name}": unfamiliar.get(name, 1.0) for name in BOTH}
            temperatures["probs"] = max(unfamiliar[name] for name in modalities)
            for name, temperature in temperatures.items():
                outputs[name] = _tempered(outputs[name], temperature)
        outputs["frontend"] = np.concatenate([outputs[part] for part in FRONTEND_PARTS[self.modality]])
        names = ("probs", "probs_audio", "probs_visual") + (("frontend",) if self.obs_mode == "frame" else ())
        return {name: outputs[name].astype(self.feature_dtype).astype(np.float32) for name in names}

    def _act(self, obs: np.ndarray, probs: np.ndarray, final: bool) -> int:
        """The policy's action (waiting is not allowed when ``final``)."""
        mask = np.ones((1, len(self.class_names) + 1), np.int8)
        mask[0, 0] = 0 if final else 1
        with torch.no_grad():
            action = int(np.asarray(self.policy.act(obs[None], mask))[0])
        if final and action == 0:  # a policy that ignores the mask: answer with the most probable class
            action = 1 + int(probs.argmax())
        return action

    def _decide(self, index: int, probs: np.ndarray, action: int, began: float, final: bool,
                modalities: tuple[str, ...]) -> Decision:
        k = action - 1
        self.decision = Decision(
            emotion=self.class_names[k], class_index=k,
            probs={name: float(p) for name, p in zip(self.class_names, probs, strict=True)},
            step=index, time_s=(index + 1) / self.step_rate, latency_s=self.latency_s if self._hears else 0.0,
            compute_s=time.perf_counter() - began, forced=final, modalities=modalities,
            unfamiliarity={name: round(value, 4) for name, value in self.unfamiliarity.items()})
        return self.decision

    def _check_policy(self) -> None:
        spec = self.policy.spec
        k = len(self.class_names)
        parts = {name: np.zeros(k, np.float32) for name in ("probs", "probs_audio", "probs_visual")}
        parts["frontend"] = np.zeros(sum(FRONTEND_DIMS[name] for name in FRONTEND_PARTS[self.modality]), np.float32)
        obs_dim = build_observation(self.obs_mode, fraction=0.0, **parts).shape[-1]
        if int(spec.obs_dim) != obs_dim or int(spec.num_classes) != k:
            raise ValueError(f"the policy acts on {spec.obs_mode!r} observations of {spec.obs_dim} values and "
                             f"{spec.num_classes} classes; these encoders give {obs_dim} values and {k} classes")


def _tempered(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs`` flattened by ``temperature`` (no change at or below 1)."""
    if temperature <= 1.0:
        return probs
    logits = np.log(np.clip(probs.astype(np.float64), 1e-12, None)) / temperature
    flat = np.exp(logits - logits.max())
    tempered: np.ndarray = (flat / flat.sum()).astype(np.float32)
    return tempered


def _mono(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples)
    if samples.dtype == np.int16:
        samples = samples.astype(np.float32) / 32768.0
    elif not np.issubdtype(samples.dtype, np.floating):
        raise ValueError(f"audio samples must be float or int16, got {samples.dtype}")
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.ndim != 1:
        raise ValueError(f"audio samples must be [n] or [n, channels], got shape {list(samples.shape)}")
    return samples.astype(np.float32, copy=False)
