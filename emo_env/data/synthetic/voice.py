"""Synthetic speech from a source-filter model: a speaker's voice, emotional prosody, one utterance.

The source is a train of Rosenberg glottal pulses following a pitch contour (with jitter, shimmer and
aspiration noise) plus noise for fricatives and plosive bursts; the filter is a cascade of formant
resonances for the vowel of each syllable, applied frame by frame in the short-time Fourier domain
(numpy), with a spectral tilt for voice quality. Syllables are consonant-vowel; the mouth opening
of the face follows their envelope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from emo_env.data.synthetic.expression import NEUTRAL, separate, smooth_noise

__all__ = ["PROSODY", "VOICE_PROFILES", "VOICE_GROUPS", "VoiceIdentity", "Utterance", "synthesize"]

SAMPLE_RATE = 16000
_N_FFT, _HOP = 480, 80  # 30 ms frames every 5 ms (the hop divides the frame, for overlap-add)
_WINDOW = np.hanning(_N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann
_FREQS = np.fft.rfftfreq(_N_FFT, 1 / SAMPLE_RATE).astype(np.float32)[None, :]
_OCTAVES = np.log2(np.maximum(_FREQS, 100.0) / 500.0)  # octaves from 500 Hz, for the spectral tilt
_ROOM = 1.0 / np.sqrt(np.maximum(_FREQS, 50.0) / 50.0)  # pinkish background noise

# Prosody parameters, as offsets from the speaker's neutral voice.
PROSODY = ("pitch_st",  # mean pitch shift, semitones
           "range_st",  # extra pitch-accent size, semitones (the declination scales with it)
           "rate",  # speaking rate, log2 factor
           "energy_db",  # loudness
           "jitter",  # extra cycle-to-cycle pitch perturbation (fraction)
           "breath",  # extra aspiration noise (fraction of the voiced source)
           "tilt_db",  # spectral tilt, dB per octave (positive = brighter, tenser voice)
           "final_st",  # pitch movement over the last third of the utterance, semitones
           "tremor")  # depth of a 6 Hz tremble of loudness (fraction) and pitch (2 semitones per unit)
_P = {name: i for i, name in enumerate(PROSODY)}

# Prototype prosody at the apex (after Banse and Scherer, 1996; Juslin and Laukka, 2003).
VOICE_PROFILES = {
    "happy": np.array([4.0, 2.5, 0.12, 5.0, 0.0, 0.0, 1.5, 0.0, 0.0]),
    "surprise": np.array([5.0, 3.5, 0.05, 5.0, 0.0, 0.05, 1.0, 4.0, 0.0]),
    "sad": np.array([-3.0, -2.0, -0.35, -6.0, 0.01, 0.25, -2.5, -1.0, 0.1]),
    "fear": np.array([6.0, -1.5, 0.3, -1.0, 0.03, 0.3, -0.5, 1.0, 0.5]),
    "anger": np.array([3.0, 1.5, 0.2, 8.0, 0.005, -0.03, 3.0, -2.0, 0.0]),
    "disgust": np.array([-2.0, -0.5, -0.25, -3.0, 0.01, 0.1, -1.0, -2.5, 0.0]),
    NEUTRAL: np.zeros(len(PROSODY)),
}
# Emotions whose voices sound alike; the face tells them apart.
VOICE_GROUPS = (("happy", "surprise", "anger"), ("sad", "disgust"))
_STYLE_SD = np.array([1.2, 0.8, 0.06, 1.5, 0.004, 0.04, 0.8, 1.0, 0.05])  # personal style spread

# Vowel formants F1-F3 (Hz, adult male, Peterson and Barney) and mouth shape (opening, rounding).
_VOWELS = np.array([[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240]],
                   dtype=np.float64)
_VOWEL_MOUTH = np.array([[1.0, 0.0], [0.65, -0.5], [0.35, -1.0], [0.7, 0.8], [0.35, 1.0]])
_NASAL = np.array([250.0, 1100.0, 2300.0])
_HIGHER = np.array([3500.0, 4500.0])
_BANDWIDTHS = np.array([70.0, 100.0, 130.0, 180.0, 250.0], dtype=np.float32)
_FRICATIVES = np.array([4500.0, 3000.0, 6000.0])  # s, sh, f-like noise centres


@dataclass(frozen=True)
class VoiceIdentity:
    """A speaker's voice and personal prosody style."""

    f0: float  # neutral pitch, Hz
    formant_scale: float  # vocal tract length factor (shorter tract, higher formants)
    rate: float  # syllables per second
    breath: float  # aspiration noise ratio
    tilt_db: float  # spectral tilt, dB/octave
    jitter: float
    expressiveness: float  # gain on emotional prosody changes
    style: dict[str, np.ndarray]

    @classmethod
    def sample(cls, rng: np.random.Generator, female: bool, spread: float = 1.0,
               style_spread: float = 1.0) -> VoiceIdentity:
        """Draw a voice; ``spread`` scales pitch/timbre/rate variation, ``style_spread`` the personal
        prosody style."""

        def vary(sd: float) -> float:
            return float(spread * sd * np.clip(rng.standard_normal(), -2.2, 2.2))

        f0 = (205.0 if female else 115.0) * 2 ** (vary(2.0) / 12)
        style = {name: style_spread * rng.normal(0.0, 1.0, len(PROSODY)) * _STYLE_SD for name in VOICE_PROFILES}
        style[NEUTRAL] = np.zeros(len(PROSODY))
        return cls(f0=f0, formant_scale=(1.15 if female else 1.0) * 2 ** vary(0.05), rate=4.3 * 2 ** vary(0.12),
                   breath=0.06 + abs(vary(0.03)), tilt_db=vary(1.0), jitter=0.004 + abs(vary(0.002)),
                   expressiveness=float(np.clip(1.0 + vary(0.15), 0.6, 1.4)), style=style)

    def prosody(self, emotion: str, separation: float) -> np.ndarray:
        """This speaker's prosody offsets at the apex of ``emotion`` (before the clip's intensity)."""
        proto = separate(VOICE_PROFILES, VOICE_GROUPS, separation)[emotion]
        return self.expressiveness * (proto + self.style[emotion])


@dataclass
class Utterance:
    """A synthesized utterance and the articulation that drives the face."""

    audio: np.ndarray  # float32 [n], -1..1, 16 kHz mono
    mouth_open: np.ndarray  # [n] 0..1
    mouth_round: np.ndarray  # [n] -1..1


def _rosenberg(phase: np.ndarray, open_q: np.ndarray) -> np.ndarray:
    """Glottal flow of a Rosenberg pulse at cycle phase ``phase`` (0..1) with open quotient ``open_q``."""
    rise = 0.6 * open_q
    fall = open_q - rise
    out = np.where(phase < rise, 0.5 * (1 - np.cos(np.pi * phase / rise)), 0.0)
    closing = (phase >= rise) & (phase < open_q)
    return np.where(closing, np.cos(0.5 * np.pi * (phase - rise) / fall), out)


def _stft(x: np.ndarray) -> np.ndarray:
    """Spectra ``[..., frames, bins]`` of signals ``[..., n]``; frame ``f`` is centred on sample ``f * hop``."""
    pad = [(0, 0)] * (x.ndim - 1) + [(_N_FFT // 2, _N_FFT // 2)]
    frames = sliding_window_view(np.pad(x, pad), _N_FFT, axis=-1)[..., ::_HOP, :]
    return np.fft.rfft(frames * _WINDOW, axis=-1)


def _istft(spec: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`_stft` by weighted overlap-add, ``n`` samples long."""
    frames = np.fft.irfft(spec, n=_N_FFT, axis=-1) * _WINDOW
    count, lead = frames.shape[-2], frames.shape[:-2]
    parts = frames.reshape(lead + (count, _N_FFT // _HOP, _HOP))
    weights = (_WINDOW ** 2).reshape(_N_FFT // _HOP, _HOP)
    total = (count + _N_FFT // _HOP - 1) * _HOP
    out, norm = np.zeros(lead + (total,)), np.zeros(total)
    for j in range(_N_FFT // _HOP):  # the j-th hop-long piece of every frame
        out[..., j * _HOP:(j + count) * _HOP] += parts[..., j, :].reshape(lead + (count * _HOP,))
        norm[j * _HOP:(j + count) * _HOP] += np.tile(weights[j], count)
    start = _N_FFT // 2
    return out[..., start:start + n] / np.maximum(norm[start:start + n], 1e-8)


def _resonances(freqs: np.ndarray, formants: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Cascade of second-order resonances (unit gain at 0 Hz) -> magnitude ``[frames, bins]``."""
    f2 = formants[:, :, None] ** 2
    mag = f2 / np.sqrt((f2 - freqs ** 2) ** 2 + (bandwidths[None, :, None] * freqs) ** 2)
    return np.prod(mag, axis=1)


@dataclass(frozen=True)
class _Syllable:
    start: int  # sample where the consonant starts
    vowel_start: int
    end: int
    vowel: int  # index into _VOWELS
    consonant: int  # 0 none, 1 fricative, 2 plosive, 3 nasal
    accent: float  # pitch accent, fraction of the pitch range


def _timeline(voice: VoiceIdentity, rate_log2: Callable[[float], float], duration: float,
              rng: np.random.Generator) -> list[_Syllable]:
    """Consonant-vowel syllables at the speaker's rate (scaled by ``rate_log2`` at each syllable's
    start), with occasional pauses."""
    out: list[_Syllable] = []
    pos = rng.uniform(0.08, 0.25)
    end_speech = duration - rng.uniform(0.08, 0.2)
    while True:
        length = rng.uniform(0.75, 1.25) / (voice.rate * 2 ** rate_log2(pos))
        if pos + length > end_speech:
            return out
        consonant = int(rng.choice(4, p=[0.3, 0.3, 0.25, 0.15]))
        c_len = 0.0 if consonant == 0 else rng.uniform(0.22, 0.38) * length
        accent = 0.8 if rng.random() < 0.35 else rng.uniform(-0.3, 0.2)
        start, vowel_start, end = (int(x * SAMPLE_RATE) for x in (pos, pos + c_len, pos + length))
        out.append(_Syllable(start, vowel_start, end, int(rng.integers(len(_VOWELS))), consonant, accent))
        pos += length + (rng.uniform(0.12, 0.3) if rng.random() < 0.12 else 0.0)


def synthesize(voice: VoiceIdentity, prosody: np.ndarray, strength: Callable[[np.ndarray], np.ndarray],
               duration: float, rng: np.random.Generator, snr_db: float, wobble: float) -> Utterance:
    """Speak random consonant-vowel syllables for ``duration`` s.

    ``prosody`` holds the offsets at the apex (see :data:`PROSODY`); ``strength(times)`` gives the
    expression strength (0..1) at those times; ``wobble`` scales slow random prosody fluctuations;
    background noise is added at ``snr_db`` (+-5 dB).
    """
    n = int(round(duration * SAMPLE_RATE))
    frames = n // _HOP + 1  # STFT frames (centred), the control rate of every slow parameter
    tc = np.arange(frames) * _HOP / SAMPLE_RATE
    pc = strength(tc)[:, None] * prosody[None, :] + wobble * smooth_noise(rng, tc, len(PROSODY), 0.5) * _STYLE_SD
    t = np.arange(n) / SAMPLE_RATE

    def per_sample(name: str) -> np.ndarray:
        return np.interp(t, tc, pc[:, _P[name]])

    syllables = _timeline(voice, lambda at: float(np.interp(at, tc, pc[:, _P["rate"]])), duration, rng)

    # Pitch: declination and accents on syllables, both scaled by the pitch range; final rise or fall; jitter.
    mids = np.array([0.0] + [(s.vowel_start + s.end) / 2 / SAMPLE_RATE for s in syllables] + [duration])
    range_st = np.maximum(2.5 + np.interp(mids, tc, pc[:, _P["range_st"]]), 0.3)
    accents = np.array([0.0] + [s.accent for s in syllables] + [0.0]) * range_st
    progress = t / duration
    tremble = np.clip(per_sample("tremor"), 0.0, 0.8) * np.sin(2 * np.pi * 6.0 * t + rng.uniform(0, 2 * np.pi))
    declination = 0.8 * progress * np.interp(t, mids, range_st)  # 2 semitones over a neutral utterance
    semitones = per_sample("pitch_st") - declination + np.interp(t, mids, accents) \
        + np.clip((progress - 0.67) / 0.33, 0, 1) * per_sample("final_st") + 2.0 * tremble
    cycle = int(0.005 * SAMPLE_RATE)  # perturbations held for about a glottal cycle
    jitter = np.repeat(rng.standard_normal(n // cycle + 1), cycle)[:n]
    shimmer = np.repeat(rng.standard_normal(n // cycle + 1), cycle)[:n]
    f0 = voice.f0 * 2 ** (semitones / 12) * (1 + np.maximum(voice.jitter + per_sample("jitter"), 0.0) * jitter)
    phase = np.cumsum(f0 / SAMPLE_RATE) % 1.0

    # Articulation: vowel, nasal and frication envelopes; the mouth follows the vowels.
    vowel_env, nasal_env, fric_env = np.zeros(n), np.zeros(n), np.zeros(n)
    fric_centre = np.zeros(n)
    vowel_of = np.zeros(n, dtype=int)
    mouth_open, mouth_round = np.zeros(n), np.zeros(n)
    for s in syllables:
        v = slice(s.vowel_start, s.end)
        shape = np.sin(np.pi * np.linspace(0.0, 1.0, s.end - s.vowel_start)) ** 0.6
        vowel_env[v] = shape
        vowel_of[s.start:s.end] = s.vowel
        mouth_open[v] = shape * _VOWEL_MOUTH[s.vowel, 0]
        mouth_round[v] = _VOWEL_MOUTH[s.vowel, 1] * np.minimum(1.0, 4 * shape)
        c = slice(s.start, s.vowel_start)
        bump = np.sin(np.pi * np.linspace(0.0, 1.0, s.vowel_start - s.start))
        if s.consonant == 1:
            fric_env[c] = 0.5 * bump
            fric_centre[c] = rng.choice(_FRICATIVES)
            mouth_open[c] = 0.15
        elif s.consonant == 2:  # closure, then a short burst
            burst = slice(s.vowel_start - max(1, (s.vowel_start - s.start) // 4), s.vowel_start)
            fric_env[burst] = np.linspace(0.9, 0.1, burst.stop - burst.start)
            fric_centre[burst] = 2000.0
        elif s.consonant == 3:
            nasal_env[c] = 0.35 * bump ** 0.5

    # Source: Rosenberg pulses (radiated: differentiated) with shimmer, plus aspiration noise.
    breath = np.clip(voice.breath + per_sample("breath"), 0.0, 0.6)
    flow = _rosenberg(phase, np.clip(0.55 + 0.8 * breath, 0.4, 0.85))
    pulses = np.diff(flow, prepend=flow[0]) * SAMPLE_RATE / voice.f0
    voiced = (vowel_env + nasal_env) * (1 + 3 * voice.jitter * shimmer + tremble) \
        * (pulses + 1.5 * breath * rng.standard_normal(n) * (0.4 + flow))
    fric = fric_env * rng.standard_normal(n)

    # Filter frame by frame in the STFT domain: formants (with coarticulation glides) and tilt.
    spec = _stft(np.stack([voiced, fric, rng.standard_normal(n)]))  # float64: numpy's float32 FFT is slower
    idx = np.minimum(np.arange(frames) * _HOP, n - 1)
    formants = np.concatenate([_VOWELS[vowel_of[idx]], np.broadcast_to(_HIGHER, (frames, 2))], axis=1)
    formants[:, :3] = np.where((nasal_env[idx] > 0)[:, None], _NASAL, formants[:, :3])
    kernel = np.hanning(9) / np.hanning(9).sum()
    formants = np.stack([np.convolve(np.pad(col, 4, mode="edge"), kernel, "valid") for col in formants.T], 1)
    tilt = (voice.tilt_db + pc[:, _P["tilt_db"]]).astype(np.float32)
    h_voiced = _resonances(_FREQS, (formants * voice.formant_scale).astype(np.float32), _BANDWIDTHS) \
        * 10 ** (tilt[:, None] * _OCTAVES / 20)
    centre = np.maximum(fric_centre[idx], 1000.0).astype(np.float32)[:, None] * voice.formant_scale
    h_fric = 1.0 / np.sqrt(1.0 + ((_FREQS - centre) / (0.35 * centre)) ** 2)
    speech, room = _istft(np.stack([spec[0] * h_voiced + spec[1] * h_fric, spec[2] * _ROOM]).astype(np.complex64), n)

    # Levels: neutral speech at -24 dBFS RMS (+-2 dB per clip), the emotion's energy on top.
    active = vowel_env > 0
    ref = np.sqrt(np.mean(speech[active] ** 2)) if active.any() else 1.0
    level = 10 ** ((-24 + rng.uniform(-2, 2)) / 20)
    speech *= level / max(ref, 1e-9) * 10 ** (per_sample("energy_db") / 20)
    room *= level / max(np.sqrt(np.mean(room ** 2)), 1e-9) * 10 ** (-(snr_db + rng.uniform(-5, 5)) / 20)
    audio = np.tanh(speech + room).astype(np.float32)
    return Utterance(audio=audio, mouth_open=np.clip(mouth_open, 0, 1), mouth_round=mouth_round)
