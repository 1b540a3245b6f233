"""What predicts the value of waiting beyond the beliefs and the time? Inner validation on the training split.

For every clip of a store's training split and every step where it may still wait, the target is the gain
of waiting (:func:`agents.waiting_value.waiting_gain`): the return of waiting and then following the
threshold rule on the top probability (tuned, for the env's return, on the fitting speakers) less the
return of answering now. Each training speaker in turn is scored by models fitted on the others (the
store's held-out split is never read). Per feature group, added to the (p, t) features (top probability,
top-two margin, entropy, time), gradient boosting with fixed settings predicts

- the gain itself (R^2 on the scored speaker: the primary figure, since the sign of the expected gain is
  what decides "answer" or "wait"),
- whether waiting pays (gain > 0; log-loss),
- and, as a policy, "answer once the predicted gain is not positive" (its mean return on the scored speaker).

Groups: the beliefs' recent change and volatility; each modality's own beliefs (the store's calibrated
``probs_audio`` and ``probs_visual``, out-of-fold on the training split: the top probability, its margin,
the probability given to the fused leader and whether the modality agrees with it); the same summary of a
logistic probe from each modality's front-end features of the step alone (``voice`` descriptors, ``face``
network features) to the label; the front-end features themselves (each modality standardised and reduced
by PCA to ``--pca-dims``); a "no expression yet" probability (probes trained to tell the steps before the
expression's onset, which the synthetic generator's own random stream gives back, from the beliefs or from
the front-end features); and, labelled as oracles no policy can see, the true onset (whether it has come,
and the time since), alone and with the belief dynamics. Everything fitted (probes, scaling, PCA) sees only
the fitting speakers; probes are cross-fitted by speaker there, so the models learn from out-of-sample
probe outputs, as they are scored. The store has no face-found or voice-activity flags, so they are not
measured.

The first table gives each group's figure (mean over the rotations) and its gain over (p, t) on the same
rotation: mean (sd) and the rotations it is positive on; the return's gain also as a paired difference over
all the scored clips (one per clip of the training split), with a 95 % interval. The second checks the
parts: the threshold rule, each modality's stored beliefs' accuracy on the scored speaker, each front-end
probe's accuracy on the scored speaker, on the fitting speakers (cross-fitted) and within the scored speaker
alone (fitted on its even clips, scored on its odd ones: in one feature space the first is close to the
last), and the onset probes' AUC on the steps where some clips have begun and others not, beside
the time's.

Usage::

    python benchmarks/bench_waiting_value.py [--store PATH] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, r2_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from agents.stopping import BeliefPaths, best_threshold, top_two
from agents.waiting_value import belief_dynamics, belief_features, waiting_gain
from emo_env.data.steps import step_time
from emo_env.data.store import FeatureStore
from emo_env.data.synthetic import clip_timing
from emo_env.envs.episodes import open_store
from emo_env.envs.observations import FRONTEND_PARTS

BOOSTING = {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 40,
            "l2_regularization": 1.0, "early_stopping": False}


def _logistic() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))


def _boosted_classifier() -> Any:
    return HistGradientBoostingClassifier(**{**BOOSTING, "max_iter": 100}, random_state=0)


def cross_fitted(make: Callable[[], Any], x: np.ndarray, y: np.ndarray, speaker: np.ndarray,
                 fit: np.ndarray) -> np.ndarray:
    """Class probabilities of a probe for every row: the fitting rows ``fit`` from probes fitted on the other
    fitting speakers, the rest from a probe fitted on every fitting row."""
    out = np.zeros((len(x), len(np.unique(y[fit]))))
    for held in [*np.unique(speaker[fit]), None]:
        train = fit & (speaker != held)
        target = (speaker == held) & fit if held is not None else ~fit
        out[target] = make().fit(x[train], y[train]).predict_proba(x[target])
    return out


def onset_steps(store: FeatureStore, clips: np.ndarray, steps: int) -> np.ndarray | None:
    """``[N, T]``: whether each step of the clips comes before its expression's onset (None for a store not
    built from the synthetic corpus, whose onsets are unknown)."""
    config = store.metadata.get("config", {})
    if store.metadata.get("corpus") != "synthetic" or "synthetic" not in config:
        return None
    onset = np.array([clip_timing(store.clip_ids[c], seed=config["seed"], **config["synthetic"]).onset for c in clips])
    times = np.array([step_time(t, store.step_rate) for t in range(steps)])
    before: np.ndarray = times[None, :] < onset[:, None]
    return before


def leader_view(own: np.ndarray, leader: np.ndarray) -> np.ndarray:
    """``[n, 4]``: how one modality's beliefs ``own [n, K]`` stand to the fused leader ``leader [n]``: their top
    probability, its margin over the second, the probability they give the fused leader, and whether their own
    leader is the fused one."""
    top, margin = top_two(own)
    return np.stack([top, margin, own[np.arange(len(own)), leader], (own.argmax(axis=1) == leader).astype(float)],
                    axis=1)


def feature_blocks(store: FeatureStore, paths: BeliefPaths, clips: np.ndarray, cells: tuple[np.ndarray, np.ndarray],
                   fit: np.ndarray, before: np.ndarray | None,
                   pca_dims: int) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every feature group's ``[cells, F]`` block (whatever is fitted, probes, scaling and PCA, sees only the
    ``fit`` cells), and how well the beliefs and the probes do on the other cells (the scored speaker)."""
    clip, step = cells
    steps = paths.time.shape[1]
    rows = store.offsets[clips][:, None] + np.minimum(np.arange(steps)[None, :], paths.length[:, None] - 1)
    rows = rows[clip, step]
    speaker, labels = paths.speakers[clip], paths.labels[clip]
    leader = paths.probs[clip, step].argmax(axis=1)
    blocks = {"(p, t)": belief_features(paths.probs, paths.time)[clip, step],
              "belief dynamics": belief_dynamics(paths.probs)[clip, step]}
    checks = {"fused accuracy": float((leader == labels)[~fit].mean())}  # at every step that may wait
    beliefs, probes, reduced = [], [], []
    even, odd = ~fit & (clip % 2 == 0), ~fit & (clip % 2 == 1)
    for modality in ("audio", "visual"):
        (frontend,) = FRONTEND_PARTS[modality]
        own = store.features[f"probs_{modality}"][rows].astype(np.float64)
        beliefs.append(leader_view(own, leader))
        checks[f"{modality} belief accuracy"] = float((own.argmax(axis=1) == labels)[~fit].mean())
        x = store.features[frontend][rows].astype(np.float64)
        probe = cross_fitted(_logistic, x, labels, speaker, fit)
        probes.append(leader_view(probe, leader))
        right = probe.argmax(axis=1) == labels
        checks[f"{frontend} probe accuracy"] = float(right[~fit].mean())
        checks[f"{frontend} probe accuracy, fitting"] = float(right[fit].mean())
        # The same probe fitted and scored within the scored speaker (even clips -> odd clips).
        within = _logistic().fit(x[even], labels[even])
        checks[f"{frontend} probe accuracy, within speaker"] = float((within.predict(x[odd]) == labels[odd]).mean())
        scaled = StandardScaler().fit(x[fit]).transform(x)
        reduced.append(PCA(min(pca_dims, x.shape[1]), random_state=0).fit(scaled[fit]).transform(scaled))
    blocks["modality beliefs"] = np.concatenate(beliefs, axis=1)
    blocks["modality probes (front ends)"] = np.concatenate(probes, axis=1)
    blocks["front-end features (PCA)"] = np.concatenate(reduced, axis=1)
    if before is not None:
        target = before[clip, step]
        dynamics = np.concatenate([blocks["(p, t)"], blocks["belief dynamics"]], axis=1)
        frontends = np.concatenate([*(store.features[n][rows] for n in FRONTEND_PARTS["fusion"]),
                                    blocks["(p, t)"][:, 3:]], axis=1).astype(np.float64)  # and the time
        for name, x, make in (("onset probe (beliefs)", dynamics, _boosted_classifier),
                              ("onset probe (front ends)", frontends, _logistic)):
            blocks[name] = cross_fitted(make, x, target.astype(int), speaker, fit)[:, 1:]
        # AUCs on the steps where some clips have begun and others not: elsewhere the time alone tells.
        window = ~fit & np.isin(step, np.flatnonzero(before.any(axis=0) & ~before.all(axis=0)))
        for name, score in (("beliefs probe", blocks["onset probe (beliefs)"][:, 0]),
                            ("front-end probe", blocks["onset probe (front ends)"][:, 0]), ("time alone", -step)):
            checks[f"onset AUC in the onset window, {name}"] = float(roc_auc_score(target[window], score[window]))
        since = (step - np.argmin(before, axis=1)[clip]) / paths.horizon
        blocks["true onset (oracle)"] = np.stack([target, since], axis=1).astype(float)
    return blocks, checks


# The store's features the groups read beyond the fused beliefs.
NEEDED = ("probs_audio", "probs_visual", *FRONTEND_PARTS["fusion"])
OBSERVABLE = ["belief dynamics", "modality beliefs", "modality probes (front ends)", "front-end features (PCA)",
              "onset probe (beliefs)", "onset probe (front ends)"]
GROUPS = {"(p, t)": [], **{f"+ {name}": [name] for name in OBSERVABLE}, "+ all observable": OBSERVABLE,
          "+ true onset (oracle)": ["true onset (oracle)"],
          "+ belief dynamics + true onset (oracle)": ["belief dynamics", "true onset (oracle)"]}


def score_speaker(store: FeatureStore, paths: BeliefPaths, clips: np.ndarray, before: np.ndarray | None,
                  scored: str, seed: int, pca_dims: int) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Every group's figures on speaker ``scored``, everything fitted on the other training speakers; and the
    threshold rule's figures and the probes' checks there."""
    fitting = paths.subset(paths.speakers != scored)
    top = paths.probs.max(axis=2)
    theta, _ = best_threshold(fitting, fitting.probs.max(axis=2))
    gain = waiting_gain(paths, top >= theta)
    clip, step = np.nonzero(paths.free)
    fit = paths.speakers[clip] != scored
    blocks, checks = feature_blocks(store, paths, clips, (clip, step), fit, before, pca_dims)
    y = gain[clip, step]
    own = paths.speakers == scored
    mine = paths.subset(own)
    rows = []
    for group, names in GROUPS.items():
        if any(name not in blocks for name in names):
            continue
        x = np.concatenate([blocks["(p, t)"], *(blocks[name] for name in names)], axis=1)
        regressor = HistGradientBoostingRegressor(**BOOSTING, random_state=seed).fit(x[fit], y[fit])
        classifier = HistGradientBoostingClassifier(**BOOSTING, random_state=seed).fit(x[fit], y[fit] > 0)
        predicted = regressor.predict(x[~fit])
        wait = np.zeros(paths.free.shape, dtype=bool)
        wait[clip[~fit], step[~fit]] = predicted > 0
        rows.append({"group": group, "features": x.shape[1], "r2": r2_score(y[~fit], predicted),
                     "log_loss": log_loss(y[~fit] > 0, classifier.predict_proba(x[~fit])[:, 1], labels=[False, True]),
                     "clip_returns": mine.returns(mine.stops(~wait[own]))})
    rule = {"threshold": theta, "threshold rule return": mine.mean_return(top[own] >= theta),
            "waiting pays": float((y[~fit] > 0).mean())}
    return rows, {**rule, **checks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="feature store (default: the bundled store); only its training split is read")
    parser.add_argument("--seed", type=int, default=0, help="seed of the gradient boosting")
    parser.add_argument("--pca-dims", type=int, default=8, help="PCA dimensions of each modality's front-end features")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of the numerical libraries (more than the free cores slows the fits many-fold)")
    args = parser.parse_args()
    started = time.perf_counter()
    store = open_store(args.store)
    missing = [name for name in NEEDED if name not in store.features]
    if missing:
        parser.error(f"{store.path} has no feature {', '.join(map(repr, missing))} "
                     "(a store of an older format: rebuild it with pretrain_encoder.py)")
    paths = BeliefPaths.from_env({"store": store, "obs_mode": "probs"}, split="train")
    clips = store.clip_indices("train")
    before = onset_steps(store, clips, paths.time.shape[1])
    results, extras = [], []
    for scored in sorted(set(paths.speakers)):
        with threadpool_limits(args.threads):
            rows, extra = score_speaker(store, paths, clips, before, scored, args.seed, args.pca_dims)
        results += [{**row, "speaker": scored} for row in rows]
        extras.append({"speaker": scored, **extra})
    table = pd.DataFrame(results)
    table["return"] = table["clip_returns"].map(np.mean)
    print(summary(table))
    print()
    checks = pd.DataFrame(extras).set_index("speaker")
    print(markdown(pd.DataFrame({"check (scored speaker)": checks.columns, "mean": checks.mean().to_numpy(),
                                 "min": checks.min().to_numpy(), "max": checks.max().to_numpy()})))
    print(f"\n{len(set(paths.speakers))} rotations over the training split of {store.path} "
          f"({len(clips)} clips), {time.perf_counter() - started:.0f} s")


def summary(table: pd.DataFrame) -> str:
    """The Markdown table: per group, the gain over (p, t) of each figure, mean (sd) over the rotations and the
    rotations it is positive on; and the return's gain as a paired difference over every scored clip, with a
    normal 95 % interval."""
    base = table[table["group"] == "(p, t)"].set_index("speaker")
    lines = []
    for group, rows in table.groupby("group", sort=False):
        rows = rows.set_index("speaker")
        row = {"group": group, "features": int(rows["features"].iloc[0])}
        for column, better in (("r2", 1), ("log_loss", -1), ("return", 1)):
            delta = better * (rows[column] - base[column])
            row[column] = f"{rows[column].mean():.3f}"
            row[f"gain in {column}"] = (f"{delta.mean():+.3f} ({delta.std():.3f}) {int((delta > 0).sum())}/{len(delta)}"
                                       if group != "(p, t)" else "")
        paired = np.concatenate(list(rows["clip_returns"])) - np.concatenate(list(base["clip_returns"]))
        half = 1.96 * paired.std(ddof=1) / np.sqrt(len(paired))
        row["gain in return, clips pooled"] = (f"{paired.mean():+.3f} [{paired.mean() - half:+.3f}, "
                                               f"{paired.mean() + half:+.3f}]" if group != "(p, t)" else "")
        lines.append(row)
    return markdown(pd.DataFrame(lines))


def markdown(table: pd.DataFrame) -> str:
    """``table`` as a Markdown table (floats to 3 decimals)."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in table.itertuples(index=False)]
    lines = [list(map(str, table.columns)), ["---"] * len(table.columns), *cells]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


if __name__ == "__main__":
    main()
