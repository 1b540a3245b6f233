"""How many held-out clips make a real difference of mean return show? A power calculation from the
spread of per-clip paired return differences between two rules, measured on a store's training split.

Each pair of rules is tuned on the training split; on every training clip both answer, and the standard
deviation ``sd`` of the per-clip difference of their returns gives, for a two-sided paired test at level
``alpha`` with power ``power``, the clips needed for a true difference ``delta`` to show:
``n = ((z(1 - alpha / 2) + z(power)) sd / delta) ** 2``, and the standard error of the paired difference
on one fold's clips. Only the training split is read. Two seeds of a learner differ by more than two
deterministic rules do, so these counts are lower bounds for learners.

Usage::

    python benchmarks/power_paired_return.py [--store PATH] [--delta 0.02] [--clips-per-fold 60] [--folds 8]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy.stats import norm

from agents.evaluation import evaluate
from agents.registry import get_agent
from agents.training import env_spec
from emo_env.envs.episodes import open_store

PAIRS = (("threshold", "fixed"), ("threshold", "time-threshold"), ("threshold", "dp"), ("time-threshold", "sr1"),
         ("threshold", "teaser"), ("dp", "economy"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="feature store (default: the bundled store)")
    parser.add_argument("--delta", type=float, default=0.02, help="true difference of mean return to detect")
    parser.add_argument("--alpha", type=float, default=0.05, help="two-sided test level")
    parser.add_argument("--power", type=float, default=0.8, help="chance that the difference shows")
    parser.add_argument("--clips-per-fold", type=int, default=60, help="held-out clips of one fold today")
    parser.add_argument("--folds", type=int, default=8, help="folds pooled by the benchmark")
    args = parser.parse_args()
    store = open_store(args.store)
    kwargs = {"store": store, "obs_mode": "probs", "split": "train"}
    spec = env_spec(store, "probs")
    returns = {}
    for name in sorted({name for pair in PAIRS for name in pair}):
        policy = get_agent(name)(spec)
        policy.learn(kwargs, 0)
        returns[name] = evaluate(policy, kwargs, "train").episodes.set_index("clip_id")["return"]
    z = norm.ppf(1 - args.alpha / 2) + norm.ppf(args.power)
    rows = []
    for a, b in PAIRS:
        difference = returns[a] - returns[b].reindex(returns[a].index)
        sd = float(difference.std(ddof=1))
        needed = int(np.ceil((z * sd / args.delta) ** 2))
        rows.append({"pair": f"{a} - {b}", "mean_difference": float(difference.mean()),
                     "same_return_%": 100 * float((difference == 0).mean()), "sd": sd,
                     f"se_{args.clips_per_fold}_clips": sd / np.sqrt(args.clips_per_fold),
                     f"se_{args.folds}x{args.clips_per_fold}_clips": sd / np.sqrt(args.folds * args.clips_per_fold),
                     "clips_needed": needed, "per_fold_if_pooled": int(np.ceil(needed / args.folds))})
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(f"store {store.path}: {len(store.clip_indices('train'))} training clips; delta {args.delta}, "
              f"two-sided alpha {args.alpha}, power {args.power} (z sum {z:.3f})")
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
