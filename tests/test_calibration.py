"""Calibration of exported beliefs and the encoders' linear baselines: a known step-dependent
temperature is recovered and held past the fitted steps, ECE tells calibrated from over-confident
beliefs, and clip scoring sums over the clip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pretrained_encoders.baselines import audio_features, frame_and_clip_accuracy, linear_log_probs, visual_features
from pretrained_encoders.calibration import (
    apply_calibration,
    calibration_table,
    expected_calibration_error,
    fit_calibration,
    step_indices,
)
from pretrained_encoders.models.temporal import step_temperatures


def _beliefs(n: int, a: float, b: float, c: float = 0.0,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beliefs ``softmax(z)`` at steps 0..29 whose labels are drawn from ``softmax(z / exp(a + b u + c u^2))``,
    ``u = log(1 + step)``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, 6))
    steps = rng.integers(0, 30, n)
    u = np.log1p(steps)
    truth = torch.softmax(torch.from_numpy(logits / np.exp(a + b * u + c * u**2)[:, None]), -1).numpy()
    labels = np.array([rng.choice(6, p=p) for p in truth])
    return torch.softmax(torch.from_numpy(logits), -1).numpy(), labels, steps


def test_step_indices_restart_at_every_clip():
    np.testing.assert_array_equal(step_indices(np.array([3, 1, 2])), [0, 1, 2, 0, 0, 1])


@pytest.mark.parametrize("a, b, c", [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (1.0, -0.6, 0.0), (1.5, -1.5, 0.25)])
def test_fit_calibration_recovers_the_temperatures_behind_the_labels(a, b, c):
    probs, labels, steps = _beliefs(20_000, a, b, c)
    fitted = fit_calibration(probs, labels, steps)
    u = torch.log1p(torch.arange(30.0))
    fitted_temperatures = step_temperatures(torch.tensor(fitted, dtype=torch.float32), torch.arange(30))
    torch.testing.assert_close(fitted_temperatures, torch.exp(a + b * u + c * u**2), rtol=0.1, atol=0.0)
    assert fitted[3] == steps.max()


def test_steps_past_the_fitted_clips_keep_the_last_temperature():
    calibration = torch.tensor([1.0, -1.5, 0.25, 29.0])
    temperatures = step_temperatures(calibration, torch.tensor([0.0, 28.0, 29.0, 30.0, 500.0]))
    assert temperatures[0] == pytest.approx(np.e)
    assert temperatures[1] != temperatures[2]
    assert temperatures[2] == temperatures[3] == temperatures[4]


def test_calibration_keeps_the_argmax_and_calibrates_early_and_late_steps():
    probs, labels, steps = _beliefs(20_000, 1.0, -0.6, seed=1)
    calibrated = apply_calibration(probs, fit_calibration(probs, labels, steps), steps)
    np.testing.assert_array_equal(calibrated.argmax(1), probs.argmax(1))
    np.testing.assert_allclose(calibrated.sum(1), 1.0, atol=1e-5)
    for part in (steps < 5, steps >= 20):
        before = expected_calibration_error(probs[part], labels[part])
        after = expected_calibration_error(calibrated[part], labels[part])
        assert before > 0.1 and after < 0.04
    np.testing.assert_allclose(apply_calibration(probs, (0.0, 0.0, 0.0, 0.0), steps), probs, atol=1e-6)


def test_calibration_table_reads_the_step_at_each_fraction():
    # two clips of 10 and 5 steps; clip 0 is right only from its 6th step, clip 1 always wrong
    probs = np.full((15, 2), 0.1)
    probs[:, 1] = 0.9
    probs[5:10] = [0.8, 0.2]
    table = calibration_table(probs, np.array([0, 10, 15]), np.array([0, 0]), fractions=(0.2, 0.5, 1.0))
    assert [row["accuracy"] for row in table] == [0.0, 0.0, 0.5]
    assert table[2]["confidence"] == pytest.approx(0.85)


def test_clip_accuracy_sums_log_probabilities_over_the_clip():
    log_probs = np.log(np.array([[0.9, 0.1], [0.4, 0.6], [0.4, 0.6], [0.2, 0.8], [0.6, 0.4]]))
    frame, clip = frame_and_clip_accuracy(log_probs, np.array([3, 2]), np.array([0, 1]))
    assert frame == pytest.approx(2 / 5)  # steps 0 and 3 are right
    assert clip == 1.0  # clip 0: 0.9 * 0.4 * 0.4 > 0.1 * 0.6 * 0.6; clip 1: 0.8 * 0.4 > 0.2 * 0.6


def test_linear_baseline_learns_simple_features():
    rng = np.random.default_rng(0)
    mels = torch.from_numpy(rng.normal(-4, 1, (120, 96, 64)).astype(np.float16))
    labels = np.repeat(np.arange(6), 20)
    for k in range(6):
        mels[labels == k, :, 8 * k : 8 * k + 8] += 2.0  # each class lifts its own bands
    faces = torch.from_numpy(rng.integers(0, 256, (120, 64, 64, 3), dtype=np.uint8))
    assert audio_features(mels).shape == (120, 128) and visual_features(faces).shape == (120, 256)
    train, test = np.flatnonzero(np.arange(120) % 2 == 0), np.flatnonzero(np.arange(120) % 2 == 1)
    log_probs = linear_log_probs(audio_features(mels), labels, train, test, 6)
    assert log_probs.shape == (60, 6) and (log_probs.argmax(1) == labels[test]).mean() == 1.0
