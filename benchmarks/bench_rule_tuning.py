"""Is every rule tuned finely enough? Each rule baseline is tuned on a store's training split as the
benchmark tunes it (its defaults) and again with a search twice as fine (or wider, for whole-number
parameters), and the table gives the best training-split return of each: a finer search should gain
nothing. The threshold rule is also tuned over the old 20-value grid, to show what a coarse grid costs.

Only the training split is read (the held-out speaker is for the report). ``dp`` and ``economy`` are
scored by their leave-one-speaker-out return on the training split (what their tuning maximises);
CALIMERA has no tuned parameter.

Usage::

    python benchmarks/bench_rule_tuning.py [--store PATH] [--latency-cost 0.005]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd

from agents.baselines import THRESHOLDS
from agents.registry import get_agent
from agents.training import env_spec
from emo_env.envs.episodes import open_store


def _grid(step: float) -> list[float]:
    return [round(float(v), 6) for v in np.arange(0.0, 1.0 + step / 2, step)]


#: rule -> searches, the default first: (what the search is, hyperparameters).
SEARCHES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "threshold": [("exact search (default)", {}), ("grid of 0.0025", {"candidates": _grid(0.0025)}),
                  ("old 20-value grid", {"candidates": list(THRESHOLDS)})],
    "fixed": [("exact search (default)", {}), ("grid of 0.0025", {"candidates": _grid(0.0025)})],
    "time-threshold": [("end grid 0.02 refined, start exact (default)", {}),
                       ("end grid 0.01 refined", {"grid_step": 0.01})],
    "sr1": [("(g1, g2) grid 0.1 refined, g3 exact (default)", {}),
            ("(g1, g2) grid 0.05 refined", {"grid_step": 0.05})],
    "teaser": [("v in 1..10, threshold exact (default)", {}),
               ("v in 1..20", {"agreement_candidates": list(range(1, 21))})],
    "economy": [("groups 1..20 (default)", {}), ("groups 1..40", {"bin_candidates": list(range(1, 41))})],
    "dp": [("groups 1..32, 13 values (default)", {}),
           ("groups 1..64, 26 values", {"bin_candidates": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20,
                                                            22, 24, 28, 32, 36, 40, 48, 56, 64, 80]})],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="feature store (default: the bundled store)")
    parser.add_argument("--latency-cost", type=float, default=0.005, help="cost of one wait (the env's default)")
    args = parser.parse_args()
    store = open_store(args.store)
    kwargs = {"store": store, "obs_mode": "probs", "latency_cost": args.latency_cost, "split": "train"}
    spec = env_spec(store, "probs")
    rows = []
    for name, searches in SEARCHES.items():
        for label, hyperparameters in searches:
            policy = get_agent(name)(spec, hyperparameters)
            started = time.perf_counter()
            policy.learn(kwargs, 0)
            tuning = policy.tuning
            assert tuning is not None
            tuned = {key: round(float(getattr(policy.config, key)), 4) for key in policy.tuned}
            rows.append({"rule": name, "search": label, "train_return": float(tuning["mean_return"].max()),
                         "tuned": tuned, "tried": len(tuning), "seconds": time.perf_counter() - started})
    table = pd.DataFrame(rows)
    table["gain_over_default"] = table["train_return"] - table.groupby("rule")["train_return"].transform("first")
    with pd.option_context("display.width", 200, "display.max_colwidth", 80, "display.float_format", "{:.4f}".format):
        print(f"store {store.path}, training split ({len(store.clip_indices('train'))} clips), "
              f"latency cost {args.latency_cost}")
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
