"""Training speed of the custom DQN against stable-baselines3's DQN, same env, same run.

1. SB3 DQN trains for its default budget on AVEmotion-v0 (belief observations, one env in a
   DummyVecEnv, SB3's default hyperparameters); its held-out HM after that budget is the target.
2. The custom DQN (``agents.dqn``, default configuration, vectorized env) trains for its default
   budget, evaluated on the held-out split every ``--eval-every`` steps (evaluation time excluded).

Reported: env steps per second of each (ratio, goal >= 50) and the training time the custom DQN
needs to first reach SB3's final HM, against SB3's whole training time (ratio, goal >= 20); the
same for SB3's final mean return (the quantity both learners maximize).
Times are CPU seconds of this process (``time.process_time``, torch on one thread), so other load
on a shared machine does not count; ``--wall`` uses wall-clock time instead. Usage::

    python benchmarks/bench_agents.py [--store PATH] [--sb3-steps N] [--dqn-steps N] [--eval-every N]
        [--seed 0] [--device cpu] [--wall]

Without ``--store`` it uses the store ``train_agent.py`` would use (the bundled synthetic store).
"""

from __future__ import annotations

import argparse
import time

import torch

from agents import evaluate, get_agent
from agents.monitor import TrainingMonitor
from agents.run_config import agent_settings, env_kwargs_from_config, store_path
from agents.training import env_spec
from emo_env.config import default_config
from emo_env.envs.episodes import open_store


def train(name: str, env_kwargs: dict, steps: int | None, seed: int, device: str, eval_every: int,
          clock) -> tuple:
    cls = get_agent(name)
    steps = cls.default_total_steps if steps is None else steps
    policy = cls(env_spec(env_kwargs["store"], env_kwargs["obs_mode"]),
                 agent_settings(default_config(), name)["hyperparameters"], seed=seed, device=device)
    monitor = TrainingMonitor(steps, progress=False, clock=clock, eval_every=eval_every,
                              evaluate=lambda p: evaluate(p, env_kwargs).metrics.summary())
    policy.learn({**env_kwargs, "split": "train"}, steps, monitor)
    monitor.close()
    return policy, monitor, evaluate(policy, env_kwargs).metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="feature store (default: the bundled synthetic store)")
    parser.add_argument("--sb3-steps", type=int, help="SB3 DQN budget (default: its default budget)")
    parser.add_argument("--dqn-steps", type=int, help="custom DQN budget (default: its default budget)")
    parser.add_argument("--eval-every", type=int, default=10_000, help="custom DQN evaluation period in env steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--wall", action="store_true", help="wall-clock time instead of process CPU time")
    args = parser.parse_args()
    torch.set_num_threads(1)
    clock = time.perf_counter if args.wall else time.process_time
    config = default_config()
    store = open_store(store_path(config, args.store))
    env_kwargs = env_kwargs_from_config(config, store, "dqn")

    sb3, sb3_monitor, sb3_metrics = train("sb3-dqn", env_kwargs, args.sb3_steps, args.seed, args.device, 0, clock)
    ours, monitor, metrics = train("dqn", env_kwargs, args.dqn_steps, args.seed, args.device, args.eval_every, clock)
    sb3_speed = sb3.num_steps / sb3_monitor.train_time_s
    speed = ours.num_steps / monitor.train_time_s

    unit = "wall s" if args.wall else "CPU s"
    print(f"store {store.path}, held-out clips {len(store.clip_indices('eval'))}, times in {unit}")
    print(f"{'agent':<10} {'steps':>9} {'train time':>11} {'steps/s':>10} {'accuracy':>9} {'earliness':>10} {'HM':>6}")
    for name, policy, mon, m in (("sb3-dqn", sb3, sb3_monitor, sb3_metrics), ("dqn", ours, monitor, metrics)):
        print(f"{name:<10} {policy.num_steps:>9,} {mon.train_time_s:>11.1f} "
              f"{policy.num_steps / mon.train_time_s:>10,.0f} {m.accuracy:>9.3f} {m.earliness:>10.3f} {m.hm:>6.3f}")
    print(f"env steps per second: custom DQN / SB3 DQN = {speed / sb3_speed:.1f}x (goal >= 50x)")
    for measure, label, goal in (("hm", "HM", " (goal >= 20x)"), ("mean_return", "mean return", "")):
        target = getattr(sb3_metrics, measure)
        reached = next((e for e in monitor.evaluations if e[measure] >= target), None)
        if reached is None:
            print(f"time to SB3 DQN's final {label} {target:.3f}: not reached by the custom DQN in "
                  f"{ours.num_steps:,} steps")
        else:
            print(f"time to SB3 DQN's final {label} {target:.3f}: custom DQN {reached['time_s']:.2f} {unit} "
                  f"(step {reached['step']:,}) vs SB3 DQN {sb3_monitor.train_time_s:.1f} {unit} = "
                  f"{sb3_monitor.train_time_s / max(reached['time_s'], 1e-9):.1f}x shorter{goal}")


if __name__ == "__main__":
    main()
