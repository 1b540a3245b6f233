"""Config overrides that make agent runs take a second on a fabricated store (tests only)."""

FAST = ["agent.dqn.num_envs=16", "agent.dqn.batch_size=32", "agent.dqn.learning_starts=64",
        "agent.reinforce.num_envs=16", "agent.reinforce.batch_episodes=16", "agent.threshold.candidates=[0.3,0.6,0.9]",
        "agent.time-threshold.start_candidates=[0.6,0.9]", "agent.time-threshold.end_candidates=[0.3,0.6]"]


def set_args(*overrides: str) -> list[str]:
    """``--set`` arguments for :data:`FAST` and ``overrides``."""
    return [arg for item in (*FAST, *overrides) for arg in ("--set", item)]
