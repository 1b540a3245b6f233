"""Front ends: fixed feature extractors that mean the same on every clip, in every fold and live.

- :class:`FaceFrontEnd`: the FER2013 mini-Xception (pretrained on real photos, bundled), frozen: its 128-d
  pooled features of the grey face and the log-probabilities of its own seven classes.
- :class:`VoiceFrontEnd`: prosody and voice-quality descriptors of a log-mel window, in the eGeMAPS tradition
  (Eyben et al. 2016): loudness, spectral balance (alpha ratio, Hammarberg index, slopes), MFCC 1-6, spectral
  flux and flatness, a low-band pitch proxy, voice activity and syllable rate, each summarised over the window's
  active frames (within 20 dB of its loudest).
  Nothing is learned: the same window gives the same numbers whatever corpus came before.

:class:`FrontEndEncoder` puts a small trained part (:class:`EncoderTop`) on a front end; the cascade trains the
top on the front end's cached features.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .fer_xception import FER2013_CLASSES, FER2013_TRAIN_COUNTS, FER_FEATURE_DIM, FER_INPUT_SIZE, load_mini_xception

__all__ = ["FrontEnd", "FaceFrontEnd", "VoiceFrontEnd", "EncoderTop", "FrontEndEncoder", "VOICE_DESCRIPTORS",
           "FRONTEND_DIMS", "FACE_PRIOR_SMOOTHING", "voice_frontend", "face_prior_indices", "face_prior",
           "with_face_prior"]


class FrontEnd(nn.Module):
    """A frozen feature extractor: raw step input -> ``[B, dim]``; always in eval mode, never trained."""

    dim: int

    def freeze(self) -> FrontEnd:
        self.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> FrontEnd:
        return super().train(False)


class FaceFrontEnd(FrontEnd):
    """uint8 RGB faces ``[B, S, S, 3]`` -> the FER2013 mini-Xception's pooled features and class log-probabilities,
    ``[B, 128 + 7]``. ``weights``: converted mini-Xception weights (default: the bundled ones)."""

    grey: torch.Tensor  # buffer

    def __init__(self, weights: str | Path | None = None):
        super().__init__()
        self.network = load_mini_xception(weights)
        self.dim = FER_FEATURE_DIM + len(FER2013_CLASSES)
        # ITU-R BT.601 luma, as OpenCV's RGB2GRAY (the conversion the network was trained with)
        self.register_buffer("grey", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1), persistent=False)
        self.freeze()

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        x = (faces.permute(0, 3, 1, 2).float() * self.grey).sum(dim=1, keepdim=True)
        size = (FER_INPUT_SIZE, FER_INPUT_SIZE)
        if x.shape[-1] > FER_INPUT_SIZE:  # area averaging, as OpenCV's INTER_AREA
            x = F.interpolate(x, size=size, mode="area")
        elif x.shape[-1] < FER_INPUT_SIZE:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        feature_map = self.network.feature_map((x / 255.0 - 0.5) * 2.0)
        logits = self.network.classifier(feature_map).mean(dim=(2, 3))
        return torch.cat([feature_map.mean(dim=(2, 3)), torch.log_softmax(logits, dim=-1)], dim=-1)


_LOW_LEVEL = ("loudness", "centroid", "alpha_ratio", "hammarberg", "slope_0_500", "slope_500_1500",
              *(f"mfcc{i}" for i in range(1, 7)), "flux", "flatness", "pitch", "harmonicity")
VOICE_DESCRIPTORS = (*(f"{name}_{stat}" for name in _LOW_LEVEL for stat in ("mean", "std")),
                     "loudness_p20", "loudness_p80", "activity", "syllable_rate", "loudness_rise", "loudness_fall")
"""The names of :class:`VoiceFrontEnd`'s outputs, in order: each frame-level descriptor's mean and standard
deviation over the window's active frames, then the window-level ones."""
_PITCH_RANGE_HZ = (70.0, 450.0)  # F0 candidates of the harmonic sieve
_PITCH_CANDIDATES = 64
_SIEVE_TOP_HZ = 1200.0  # harmonics above this are not resolved by 64 mel bands
_FLOOR = 1e-3  # the log spectrum's floor, relative to the window's loudest band (-60 dB)
_SYLLABLE_PROMINENCE = 0.35  # a syllable's loudness peak stands this far above the window's median (3 dB)


class VoiceFrontEnd(FrontEnd):
    """``log(mel + offset)`` windows ``[B, frames, bands]`` (HTK mel, magnitude) -> :data:`VOICE_DESCRIPTORS`
    ``[B, 38]``.

    Every descriptor is blind to the recording's gain (a microphone's level says nothing about emotion): the
    window's magnitudes are floored at 60 dB below its loudest band before any logarithm, and loudness is
    relative to the loudest frame.
    Frame-level descriptors (every 10 ms): loudness (log energy, relative to the window's loudest frame),
    spectral centroid (octaves above the lowest
    band), alpha ratio (energy below 1 kHz over 1-5 kHz), Hammarberg index (peak below 2 kHz over 2-5 kHz),
    spectral slopes of 0-500 and 500-1500 Hz, MFCC 1-6, spectral flux, spectral flatness, pitch and harmonicity
    from a harmonic sieve on the mel spectrum (the F0 candidate of 70-450 Hz whose harmonics below 1.2 kHz stand
    highest above the valleys between them, in octaves above 70 Hz, and how high they stand, summed). Each is summarised
    by its mean and standard deviation over the active frames (loudness within 20 dB of the window's peak), so
    that pauses, and the silence past the end of an utterance, do not dilute them. Window-level, over all frames:
    loudness's 20th and 80th percentiles, the fraction of active frames, loudness peaks 3 dB above the window's
    median per second (a syllable rate), and the mean rise and fall of loudness.
    """

    centres: torch.Tensor  # buffers
    spectrum_weights: torch.Tensor
    power_weights: torch.Tensor
    candidates: torch.Tensor
    band_0_2000: torch.Tensor
    band_2000_5000: torch.Tensor

    def __init__(self, *, bands: int, fmin: float, fmax: float, hop_ms: float, log_offset: float):
        super().__init__()
        self.dim = len(VOICE_DESCRIPTORS)
        self.hop_s = hop_ms / 1000.0
        self.log_offset = log_offset
        mel = torch.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), bands + 2)
        centres = 700.0 * (10.0 ** (mel[1:-1] / 2595.0) - 1.0)
        self.register_buffer("centres", centres, persistent=False)
        n = torch.arange(bands, dtype=torch.float32)
        k = torch.arange(1, 7, dtype=torch.float32)[:, None]
        dct = torch.cos(math.pi / bands * (n + 0.5) * k) * math.sqrt(2.0 / bands)  # orthonormal DCT-II rows 1-6
        edges = 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
        candidates = torch.logspace(math.log10(_PITCH_RANGE_HZ[0]), math.log10(_PITCH_RANGE_HZ[1]), _PITCH_CANDIDATES)
        self.register_buffer("candidates", torch.log2(candidates / _PITCH_RANGE_HZ[0]), persistent=False)
        # Every linear map of a frame in one matrix each (one product per frame, fixed here so that ONNX export
        # meets no data-dependent branch). Of the log spectrum: the slopes of 0-500 and 500-1500 Hz, MFCC 1-6
        # and the harmonic sieve; of the power spectrum: the total, the centroid's numerator and the energies
        # of 50-1000 and 1000-5000 Hz.
        self.register_buffer("spectrum_weights", torch.cat([
            self._slope_weights(0, 500)[None], self._slope_weights(500, 1500)[None], dct,
            _harmonic_sieve(candidates, edges)]).T.contiguous(), persistent=False)
        self.register_buffer("power_weights", torch.stack([
            torch.ones_like(centres), torch.log2(centres / centres[0]), self._band_mask(50, 1000),
            self._band_mask(1000, 5000)], dim=1), persistent=False)
        for low, high in ((0, 2000), (2000, 5000)):
            self.register_buffer(f"band_{low}_{high}", self._band(low, high), persistent=False)
        self.freeze()

    def _band(self, low: float, high: float) -> torch.Tensor:
        """Indices of the bands whose centres lie in ``[low, high)`` Hz; the nearest band when none does."""
        inside = ((self.centres >= low) & (self.centres < high)).nonzero().flatten()
        if inside.numel() == 0:
            inside = torch.argmin((self.centres - (low + high) / 2).abs()).reshape(1)
        return inside

    def _band_mask(self, low: float, high: float) -> torch.Tensor:
        """``[bands]``: 1 on the bands of :meth:`_band`, 0 elsewhere."""
        return torch.zeros_like(self.centres).index_fill_(0, self._band(low, high), 1.0)

    def _slope_weights(self, low: float, high: float) -> torch.Tensor:
        """``[bands]`` weights whose product with a log spectrum is its least-squares slope over ``[low, high)`` Hz
        (per kHz)."""
        inside = self._band(low, high)
        f = self.centres[inside] / 1000.0
        f = f - f.mean()
        weights = torch.zeros_like(self.centres)
        weights[inside] = f / (f * f).sum().clamp_min(1e-6)
        return weights

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        magnitude = (torch.exp(log_mel.float()) - self.log_offset).clamp_min(0.0)  # [B, T, M]
        floor = (magnitude.amax(dim=(1, 2), keepdim=True) * _FLOOR).clamp_min(1e-12)  # digital silence: 1e-12
        x = torch.log(torch.maximum(magnitude, floor))  # a log spectrum whose shape does not depend on the gain
        power = torch.exp(2 * x)
        total, weighted_octaves, low, high = (power @ self.power_weights).unbind(-1)
        loudness = 0.5 * torch.log(total)
        loudness = loudness - loudness.amax(1, keepdim=True)  # relative to the window's loudest frame: gain-free
        centroid = weighted_octaves / total
        alpha = torch.log(low / high)
        hammarberg = torch.log(power.index_select(-1, self.band_0_2000).amax(-1)
                               / power.index_select(-1, self.band_2000_5000).amax(-1))
        projected = x @ self.spectrum_weights  # [B, T, 2 slopes + 6 MFCC + candidates]
        flux = F.pad(((x[:, 1:] - x[:, :-1]) ** 2).mean(-1), (1, 0))
        flatness = 2 * x.mean(-1) - torch.log(power.mean(-1))  # log power = 2x
        harmonicity, best = projected[..., 8:].max(-1)
        pitch = self.candidates[best]
        frame_level = torch.cat([torch.stack([loudness, centroid, alpha, hammarberg], dim=-1), projected[..., :8],
                                 torch.stack([flux, flatness, pitch, harmonicity], dim=-1)], dim=-1)  # [B, T, 16]
        active = (loudness > -math.log(10.0)).float()  # within 20 dB of the peak (the loudest frame always is)
        weights = (active / active.sum(1, keepdim=True).clamp_min(1.0))[..., None]
        mean = (frame_level * weights).sum(1)
        std = (((frame_level - mean[:, None]) ** 2) * weights).sum(1).sqrt()
        summary = torch.stack([mean, std], dim=-1).flatten(1)

        ordered = loudness.sort(dim=1).values
        frames = loudness.shape[1]
        p20, p80 = ordered[:, int(0.2 * (frames - 1))], ordered[:, int(0.8 * (frames - 1))]
        smooth = F.avg_pool1d(loudness[:, None], 7, stride=1, padding=3, count_include_pad=False)[:, 0]
        rise = smooth[:, 1:] - smooth[:, :-1]
        median = ordered[:, (frames - 1) // 2, None]
        prominent = smooth[:, 1:-1] > median + _SYLLABLE_PROMINENCE
        peaks = ((rise[:, :-1] > 0) & (rise[:, 1:] <= 0) & prominent).float()
        window = frames * self.hop_s
        return torch.cat([summary, torch.stack([
            p20, p80, active.mean(1), peaks.sum(1) / window,
            rise.clamp_min(0).mean(1) / self.hop_s, (-rise).clamp_min(0).mean(1) / self.hop_s], dim=-1)], dim=-1)


FRONTEND_DIMS = {"voice": len(VOICE_DESCRIPTORS), "face": FER_FEATURE_DIM + len(FER2013_CLASSES)}


_FER_NAMES = {"anger": "angry", "angry": "angry", "disgust": "disgust", "disgusted": "disgust", "fear": "fear",
              "fearful": "fear", "happy": "happy", "happiness": "happy", "joy": "happy", "sad": "sad",
              "sadness": "sad", "surprise": "surprise", "surprised": "surprise", "neutral": "neutral"}


def face_prior_indices(class_names: Sequence[str]) -> list[int] | None:
    """For each class, the index of its FER2013 class among :class:`FaceFrontEnd`'s log-probabilities (by name:
    ``anger`` is ``angry``, ``happiness`` is ``happy``, ...); None when some class has no FER2013 counterpart."""
    names = [_FER_NAMES.get(name.lower()) for name in class_names]
    if None in names or len(set(names)) < len(names):
        return None
    return [FER2013_CLASSES.index(name) for name in names if name is not None]


FACE_PRIOR_SMOOTHING = 0.5
"""The uniform distribution's share in :func:`face_prior`: the face network's reading guides, never rules out."""
_FER_LOG_BASE_RATES = torch.tensor(FER2013_TRAIN_COUNTS, dtype=torch.float32).log()


def face_prior(face: torch.Tensor, indices: Sequence[int]) -> torch.Tensor:
    """The face network's own reading of the classes, ``face [..., 135] -> [..., K]`` log-probabilities.

    Its probabilities of the classes' FER2013 counterparts (``indices``, :func:`face_prior_indices`) are divided
    by FER2013's training base rates (:data:`~.fer_xception.FER2013_TRAIN_COUNTS`: a correction for label shift,
    so that disgust, rare in FER2013, is not read as anger for its rarity alone), renormalised over the classes,
    and mixed with the uniform distribution (:data:`FACE_PRIOR_SMOOTHING`), so that a class the network does not
    see stays within reach of the evidence the temporal model adds."""
    rows = list(indices)
    own = face[..., FER_FEATURE_DIM:][..., rows].float() - _FER_LOG_BASE_RATES.to(face.device)[rows]
    balanced = torch.softmax(own, dim=-1)
    return torch.log((1.0 - FACE_PRIOR_SMOOTHING) * balanced + FACE_PRIOR_SMOOTHING / len(rows))


def with_face_prior(embedding: torch.Tensor, face: torch.Tensor, indices: Sequence[int]) -> torch.Tensor:
    """What a temporal model with the face prior reads: ``embedding [..., E]``, then :func:`face_prior` of the
    face network's features ``face [..., 135]`` -> ``[..., E + K]``."""
    return torch.cat([embedding, face_prior(face, indices)], dim=-1)


def voice_frontend(mel_bands: int, data: Mapping[str, Any]) -> VoiceFrontEnd:
    """The :class:`VoiceFrontEnd` of log-mel windows made with the ingest settings ``data`` (``mel_fmin``,
    ``mel_fmax``, ``mel_hop_ms``, ``mel_log_offset``)."""
    return VoiceFrontEnd(bands=int(mel_bands), fmin=float(data["mel_fmin"]), fmax=float(data["mel_fmax"]),
                         hop_ms=float(data["mel_hop_ms"]), log_offset=float(data["mel_log_offset"]))


def _harmonic_sieve(candidates: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """``[candidates, bands]`` weights: for each F0, +1 for each of its
    harmonics below :data:`_SIEVE_TOP_HZ` and -1 for each midpoint between them, spread over the mel bands whose
    triangular filters they fall in, so that a log-mel frame times the weights is how far the harmonics stand
    above the valleys, summed (the sum, not the mean, keeps an F0 from losing to its octave above, whose
    harmonics are fewer and better resolved)."""
    low, centre, high = edges[:-2], edges[1:-1], edges[2:]

    def triangles(freqs: torch.Tensor) -> torch.Tensor:  # [n] -> [n, bands]
        f = freqs[:, None]
        return torch.clamp(torch.minimum((f - low) / (centre - low), (high - f) / (high - centre)), min=0.0)

    rows = []
    for f0 in candidates.tolist():
        peaks = torch.arange(1, int(_SIEVE_TOP_HZ // f0) + 1, dtype=torch.float32) * f0
        positive, negative = triangles(peaks).sum(0), triangles(peaks + f0 / 2).sum(0)
        rows.append(positive - negative * positive.sum() / negative.sum())  # weights sum to 0: blind to loudness
    return torch.stack(rows)


def _hz_to_mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


class EncoderTop(nn.Module):
    """What a fold trains on a front end: standardisation (batch norm), a projection to ``embed_dim`` and a
    classifier. ``features [B, D] -> (embedding [B, E], logits [B, K])``."""

    def __init__(self, input_dim: int, embed_dim: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(input_dim)
        self.embed = nn.Sequential(nn.Linear(input_dim, embed_dim), nn.ReLU(inplace=True), nn.Dropout(0.1))
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.embed(self.norm(features.float()))
        return embedding, self.head(embedding)


class FrontEndEncoder(nn.Module):
    """A frozen :class:`FrontEnd` and a trained :class:`EncoderTop`: raw input -> ``(embedding, logits)``."""

    def __init__(self, frontend: FrontEnd, embed_dim: int, num_classes: int):
        super().__init__()
        self.frontend = frontend
        self.top = EncoderTop(frontend.dim, embed_dim, num_classes)

    def forward(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.top(self.frontend(raw))
