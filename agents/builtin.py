"""The agents that ship with the package: registered name -> where the class lives (``module:Class``).

Plain strings, so the registry (:mod:`agents.registry`) imports each class only when it is used
(stable-baselines3 only for its agents) and :class:`agents.policy.Policy` can tell a registered class
by its import path without importing the registry. Add an agent of the package with one line here.
"""

__all__ = ["BUILTIN_AGENTS"]

BUILTIN_AGENTS = {
    "dqn": "agents.dqn:DQNAgent",
    "reinforce": "agents.reinforce:ReinforceAgent",
    "sb3-dqn": "agents.sb3:SB3DqnAgent",
    "sb3-ppo": "agents.sb3:SB3PpoAgent",
    "sb3-a2c": "agents.sb3:SB3A2CAgent",
    "sb3-maskable-ppo": "agents.sb3:SB3MaskablePpoAgent",
    "sb3-recurrent-ppo": "agents.sb3:SB3RecurrentPpoAgent",
    "threshold": "agents.baselines:ThresholdPolicy",
    "time-threshold": "agents.baselines:TimeThresholdPolicy",
    "fixed": "agents.baselines:FixedTimePolicy",
    "end": "agents.baselines:EndPolicy",
    "random": "agents.baselines:RandomPolicy",
    "dp": "agents.dp:DPPolicy",
    "sr1": "agents.early_rules:SR1Policy",
    "teaser": "agents.early_rules:TeaserPolicy",
    "economy": "agents.early_rules:EconomyPolicy",
    "calimera": "agents.early_rules:CalimeraPolicy",
}
