"""Synthetic speech from a source-filter model: a speaker's voice, emotional prosody, one utterance.

The source is a train of Rosenberg glottal pulses following a pitch contour (with jitter, shimmer and
aspiration noise) plus noise for fricatives and plosive bursts; the filter is a cascade of formant
resonances for the vowel of each syllable, applied frame by frame in the short-time Fourier domain
(torch), with a spectral tilt for voice quality. Syllables are consonant-vowel; the mouth opening
of the face follows their envelope.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emo_env.data.synthetic_expr import NEUTRAL, separate, smooth_noise

__all__ = ["PROSODY", "VOICE_PROFILES", "VOICE_GROUPS", "VoiceIdentity", "Utterance", "synthesize"]

SAMPLE_RATE = 16000
_N_FFT, _HOP = 512, 80

# Prosody parameters, as offsets from the speaker's neutral voice.
PROSODY = ("pitch_st",  # mean pitch shift, semitones
           "range_st",  # extra pitch-accent size, semitones
           "rate",  # speaking rate, log2 factor
           "energy_db",  # loudness
           "jitter",  # extra cycle-to-cycle pitch perturbation (fraction)
           "breath",  # extra aspiration noise (fraction of the voiced source)
           "tilt_db",  # spectral tilt, dB per octave (positive = brighter, tenser voice)
           "final_st")  # pitch movement over the last third of the utterance, semitones
_P = {name: i for i, name in enumerate(PROSODY)}

# Prototype prosody at the apex (after Banse and Scherer, 1996; Juslin and Laukka, 2003).
VOICE_PROFILES = {
    "happy": np.array([4.0, 2.5, 0.12, 5.0, 0.0, 0.0, 1.5, 0.0]),
    "surprise": np.array([5.0, 3.5, 0.05, 5.0, 0.0, 0.05, 1.0, 4.0]),
    "sad": np.array([-3.0, -1.5, -0.35, -6.0, 0.01, 0.25, -2.5, -1.0]),
    "fear": np.array([6.0, -1.0, 0.3, 1.0, 0.03, 0.2, 0.0, 1.0]),
    "anger": np.array([3.0, 1.5, 0.2, 8.0, 0.005, -0.03, 3.0, -2.0]),
    "disgust": np.array([-2.0, 0.0, -0.25, -3.0, 0.01, 0.1, -1.0, -2.5]),
    NEUTRAL: np.zeros(len(PROSODY)),
}
# Emotions whose voices sound alike; the face tells them apart.
VOICE_GROUPS = (("happy", "surprise", "anger"), ("sad", "disgust"))
_STYLE_SD = np.array([1.2, 0.8, 0.06, 1.5, 0.004, 0.04, 0.8, 1.0])

# Vowel formants F1-F3 (Hz, adult male, Peterson and Barney) and mouth shape (opening, rounding).
_VOWELS = np.array([[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240]],
                   dtype=np.float64)
_VOWEL_MOUTH = np.array([[1.0, 0.0], [0.65, -0.5], [0.35, -1.0], [0.7, 0.8], [0.35, 1.0]])
_NASAL = np.array([250.0, 1100.0, 2300.0])
_HIGHER = np.array([3500.0, 4500.0])
_BANDWIDTHS = np.array([70.0, 100.0, 130.0, 180.0, 250.0])
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
               style_spread: float = 1.0) -> "VoiceIdentity":
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


def _resonances(freqs: np.ndarray, formants: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Cascade of second-order resonances (unit gain at 0 Hz) -> magnitude ``[frames, bins]``."""
    f2 = formants[:, :, None] ** 2
    mag = f2 / np.sqrt((f2 - freqs ** 2) ** 2 + (bandwidths[None, :, None] * freqs) ** 2)
    return np.prod(mag, axis=1)


def synthesize(voice: VoiceIdentity, prosody: np.ndarray, strength: np.ndarray, duration: float,
               rng: np.random.Generator, snr_db: float, wobble: float) -> Utterance:
    """Speak random consonant-vowel syllables for ``duration`` s.

    ``prosody`` is the apex offset vector (see :data:`PROSODY`) and ``strength`` a callable-free
    envelope: an array of the expression strength (0..1) at every sample.
    """
    n = int(round(duration * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    p = strength[:, None] * prosody[None, :] + wobble * smooth_noise(rng, t, len(PROSODY), 0.5) * _STYLE_SD

    # --- timeline: syllables (consonant, vowel) with occasional pauses --------------------------
    seg_id = np.full(n, -1)  # syllable index per sample, -1 = silence
    cons = np.zeros(n, dtype=bool)
    syllables: list[tuple[int, int, int, int, int]] = []  # start, vowel start, end, vowel, consonant kind
    pos = rng.uniform(0.08, 0.25)
    end_speech = duration - rng.uniform(0.08, 0.2)
    while True:
        i = min(int(pos * SAMPLE_RATE), n - 1)
        rate = voice.rate * 2 ** p[i, _P["rate"]]
        length = rng.uniform(0.75, 1.25) / rate
        if pos + length > end_speech:
            break
        kind = int(rng.choice(4, p=[0.3, 0.3, 0.25, 0.15]))  # none, fricative, plosive, nasal
        c_len = 0.0 if kind == 0 else rng.uniform(0.22, 0.38) * length
        s0, v0, s1 = (int(x * SAMPLE_RATE) for x in (pos, pos + c_len, pos + length))
        seg_id[s0:s1] = len(syllables)
        cons[s0:v0] = True
        syllables.append((s0, v0, s1, int(rng.integers(len(_VOWELS))), kind))
        pos += length + (rng.uniform(0.12, 0.3) if rng.random() < 0.12 else 0.0)
    n_syl = len(syllables)

    # --- pitch contour ------------------------------------------------------------------------
    stressed = rng.random(max(n_syl, 1)) < 0.35
    mids, targets = [0.0], [0.0]
    for k, (s0, v0, s1, _, _) in enumerate(syllables):
        mid = (v0 + s1) / 2
        r = 2.5 + p[int(mid), _P["range_st"]]
        mids.append(mid / SAMPLE_RATE)
        targets.append(max(r, 0.3) * (0.8 if stressed[k] else rng.uniform(-0.3, 0.2)))
    mids.append(duration)
    targets.append(0.0)
    accent = np.interp(t, mids, targets)
    progress = t / duration
    final = np.clip((progress - 0.67) / 0.33, 0, 1) * p[:, _P["final_st"]]
    semitones = p[:, _P["pitch_st"]] - 2.0 * progress + accent + final
    block = 0.005  # pitch perturbation held for about a cycle
    jitter = np.repeat(rng.standard_normal(int(np.ceil(duration / block)) + 1), int(block * SAMPLE_RATE))[:n]
    f0 = voice.f0 * 2 ** (semitones / 12) * (1 + (voice.jitter + np.maximum(p[:, _P["jitter"]], -voice.jitter)) * jitter)
    phase = np.cumsum(f0 / SAMPLE_RATE) % 1.0

    # --- envelopes ------------------------------------------------------------------------------
    vowel_env = np.zeros(n)
    nasal_env = np.zeros(n)
    fric_env = np.zeros(n)
    vowel_of = np.zeros(n, dtype=int)
    mouth_open = np.zeros(n)
    mouth_round = np.zeros(n)
    fric_centre = np.zeros(n)
    for s0, v0, s1, vowel, kind in syllables:
        seg = np.arange(v0, s1)
        x = (seg - v0) / max(s1 - v0, 1)
        shape = np.sin(np.pi * np.clip(x, 0, 1)) ** 0.6
        vowel_env[seg] = shape
        vowel_of[s0:s1] = vowel
        mouth_open[seg] = shape * _VOWEL_MOUTH[vowel, 0]
        mouth_round[seg] = _VOWEL_MOUTH[vowel, 1] * np.minimum(1.0, 4 * shape)
        c = np.arange(s0, v0)
        if kind == 1:
            fric_env[c] = np.sin(np.pi * (c - s0) / max(v0 - s0, 1)) * 0.5
            fric_centre[c] = rng.choice(_FRICATIVES)
            mouth_open[c] = 0.15
        elif kind == 2:  # closure, then a short burst
            burst = c[-max(1, len(c) // 4):]
            fric_env[burst] = np.linspace(0.9, 0.1, len(burst))
            fric_centre[burst] = 2000.0
        elif kind == 3:
            nasal_env[c] = 0.35 * np.sin(np.pi * (c - s0) / max(v0 - s0, 1)) ** 0.5
    shimmer = 1 + 3 * voice.jitter * np.repeat(rng.standard_normal(len(jitter) // 80 + 2), 80)[:n]
    voiced_env = (vowel_env + nasal_env) * shimmer
    open_q = np.clip(0.55 + 0.8 * (voice.breath + p[:, _P["breath"]]), 0.4, 0.85)
    flow = _rosenberg(phase, open_q)
    source = np.diff(flow, prepend=flow[0]) * SAMPLE_RATE / voice.f0  # radiated: derivative of the flow
    breath = np.clip(voice.breath + p[:, _P["breath"]], 0.0, 0.6)
    noise = rng.standard_normal(n)
    voiced = voiced_env * (source + 1.5 * breath * noise * (0.4 + flow))
    fric = fric_env * rng.standard_normal(n)

    # --- filter, frame by frame in the STFT domain ------------------------------------------------
    window = torch.hann_window(_N_FFT, dtype=torch.float64)
    signals = torch.from_numpy(np.stack([voiced, fric, rng.standard_normal(n)]))
    spec = torch.stft(signals, _N_FFT, _HOP, window=window, center=True, return_complex=True)
    frames = spec.shape[-1]
    idx = np.minimum(np.arange(frames) * _HOP, n - 1)
    freqs = np.fft.rfftfreq(_N_FFT, 1 / SAMPLE_RATE)[None, :]
    vowel_f = np.concatenate([_VOWELS[vowel_of[idx]], np.broadcast_to(_HIGHER, (frames, 2))], axis=1)
    nasal = (nasal_env[idx] > 0)[:, None]
    vowel_f[:, :3] = np.where(nasal, _NASAL, vowel_f[:, :3])
    kernel = np.hanning(9) / np.hanning(9).sum()  # coarticulation: glide between targets
    vowel_f = np.stack([np.convolve(np.pad(col, 4, mode="edge"), kernel, "valid") for col in vowel_f.T], 1)
    vowel_f *= voice.formant_scale
    tilt = voice.tilt_db + p[idx, _P["tilt_db"]]
    tilt_gain = 10 ** (tilt[:, None] * np.log2(np.maximum(freqs, 100.0) / 500.0) / 20)
    h_voiced = _resonances(freqs, vowel_f, _BANDWIDTHS) * tilt_gain
    centre = np.maximum(fric_centre[idx], 1000.0)[:, None] * voice.formant_scale
    h_fric = 1.0 / np.sqrt(1.0 + ((freqs - centre) / (0.35 * centre)) ** 2)
    h_room = 1.0 / np.sqrt(np.maximum(freqs, 50.0) / 50.0)  # pinkish background noise
    speech_spec = spec[0] * torch.from_numpy(h_voiced.T) + spec[1] * torch.from_numpy(h_fric.T)
    out = torch.istft(torch.stack([speech_spec, spec[2] * torch.from_numpy(np.broadcast_to(h_room, (frames, h_room.shape[1])).T.copy())]),
                      _N_FFT, _HOP, window=window, center=True, length=n).numpy()
    speech, room = out[0], out[1]

    # --- levels: neutral speech at -24 dBFS RMS, emotion and clip gain on top, noise at the SNR ---
    active = seg_id >= 0
    ref = np.sqrt(np.mean(speech[active] ** 2)) if active.any() else 1.0
    target = 10 ** (-24 / 20) * 10 ** (rng.uniform(-3, 3) / 20)
    gain = 10 ** (p[:, _P["energy_db"]] / 20)
    speech = speech / max(ref, 1e-9) * target * gain
    room = room / max(np.sqrt(np.mean(room ** 2)), 1e-9) * target * 10 ** (-(snr_db + rng.uniform(-5, 5)) / 20)
    audio = np.tanh(speech + room).astype(np.float32)
    return Utterance(audio=audio, mouth_open=np.clip(mouth_open, 0, 1), mouth_round=mouth_round)
