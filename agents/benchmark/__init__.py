"""Benchmark: every agent trained on every fold and seed, on the same stores, splits and rewards, with
its held-out results averaged over the folds.

    python -m agents.benchmark [--config synthetic] [--agents dqn,reinforce,threshold,...]
        [--seed 0,1,2,3,4] [--folds all | --folds s1,s3 | --store PATH] [--workers N] [--ray [ADDRESS]]
        [--validation] [--set key=value ...] [--out DIR] [--no-sweep] [--resume] [--device auto]
        [--no-progress] [--describe]

``--folds`` uses the per-fold stores that ``pretrain_encoder.py --all-folds`` writes, building any
that are missing; without it the benchmark runs on one store (as ``train_agent.py`` picks it).
``--validation`` runs it instead on each store's inner-validation copy (a training speaker held out,
the test speaker left out: :mod:`agents.validation`), the place to compare designs and settings.
Agents are registered names or ``package.module:Class``. The rule baselines tune their parameters
on each fold's training split for the mean return, the learners' objective (the *fair*
baselines); the threshold sweep on the held-out split is the *oracle*, tuned on the test speaker.

Written to the output folder: ``benchmark.md`` and ``benchmark.json`` (the report), ``benchmark.csv``
(per agent: mean and IQM over runs with 95 % stratified-bootstrap intervals, from rliable),
``improvement.csv`` (probability of improvement of each agent over each fair baseline and the
difference of mean returns, with intervals), ``folds.csv`` (per agent and fold, with the earliness
spread across seeds), ``runs.csv`` (one row per run), ``episodes.csv`` (every held-out clip of
every run), ``oracle.csv``, ``sweep.csv`` (each ``sweep_agents`` learner over ``latency_costs``,
first seed, averaged over folds) and ``benchmark.png``. Runs of one fold weigh the same in every
figure (the folds of a LOSO corpus hold similar numbers of clips).
"""

from agents.benchmark.runner import MEASURES, Benchmark, inner_validation_stores, run_benchmark

__all__ = ["MEASURES", "Benchmark", "run_benchmark", "inner_validation_stores"]
