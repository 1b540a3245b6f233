"""Metrics on hand-made episodes: accuracy, earliness, decision time, HM, return, confusion, per speaker."""

import pandas as pd
import pytest

from agents.evaluation import curve_accuracy_at, pareto_front
from agents.metrics import EPISODE_COLUMNS, compute_metrics, harmonic_mean


def episodes(rows):
    return pd.DataFrame(rows, columns=list(EPISODE_COLUMNS))


def test_harmonic_mean_of_accuracy_and_timeliness():
    assert harmonic_mean(0.8, 0.4) == pytest.approx(2 * 0.8 * 0.6 / 1.4)
    assert harmonic_mean(1.0, 0.0) == pytest.approx(1.0)
    assert harmonic_mean(0.9, 1.0) == 0.0  # answering at the very end has no timeliness
    assert harmonic_mean(0.0, 1.0) == 0.0  # both terms zero: defined as 0, not a division error


def test_metrics_of_hand_made_episodes():
    table = episodes([
        # clip, speaker, label, prediction, steps, decision_step, fraction, time_s, return
        ("a", "s1", 0, 0, 10, 4, 0.5, 0.5, 0.98),
        ("b", "s1", 1, 2, 20, 19, 1.0, 2.0, -1.095),
        ("c", "s2", 2, 2, 10, 1, 0.2, 0.2, 0.995),
        ("d", "s2", 2, 0, 5, 2, 0.6, 0.3, -1.01),
    ])
    m = compute_metrics(table, num_classes=3)
    assert m.episodes == 4
    assert m.accuracy == pytest.approx(0.5)
    assert m.earliness == pytest.approx((0.5 + 1.0 + 0.2 + 0.6) / 4)
    assert m.decision_time_s == pytest.approx((0.5 + 2.0 + 0.2 + 0.3) / 4)
    assert m.hm == pytest.approx(2 * 0.5 * (1 - 0.575) / (0.5 + 1 - 0.575))
    assert m.mean_return == pytest.approx((0.98 - 1.095 + 0.995 - 1.01) / 4)
    assert m.confusion == [[1, 0, 0], [0, 0, 1], [1, 0, 1]]
    assert m.per_speaker == {"s1": 0.5, "s2": 0.5}
    assert m.unanswered == 0


def test_unanswered_episode_is_wrong_and_outside_the_confusion_matrix():
    table = episodes([("a", "s1", 1, -1, 4, 3, 1.0, 0.4, -1.015), ("b", "s1", 1, 1, 4, 0, 0.25, 0.1, 1.0)])
    m = compute_metrics(table, num_classes=2)
    assert m.accuracy == 0.5 and m.unanswered == 1
    assert m.confusion == [[0, 0], [0, 1]]


def test_bad_episode_tables_are_rejected():
    with pytest.raises(ValueError, match="lacks column"):
        compute_metrics(pd.DataFrame({"label": [0]}), num_classes=2)
    with pytest.raises(ValueError, match="no episodes"):
        compute_metrics(episodes([]), num_classes=2)
    with pytest.raises(ValueError, match="predictions"):
        compute_metrics(episodes([("a", "s1", 0, 5, 4, 0, 0.25, 0.1, 1.0)]), num_classes=2)


def test_pareto_front_keeps_only_undominated_points():
    points = pd.DataFrame({"threshold": [0.5, 0.6, 0.7, 0.8, 0.9],
                           "earliness": [0.2, 0.3, 0.35, 0.6, 0.9],
                           "accuracy": [0.5, 0.45, 0.7, 0.7, 0.9]})
    front = pareto_front(points)
    assert front["threshold"].tolist() == [0.5, 0.7, 0.9]  # 0.6 and 0.8 are dominated
    assert curve_accuracy_at(front, 0.1) == 0.0
    assert curve_accuracy_at(front, 0.5) == 0.7
    assert curve_accuracy_at(front, 1.0) == 0.9

