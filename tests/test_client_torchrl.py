"""TorchRL makes AVEmotion-v0 the way its users do: ``GymEnv`` by id, spec checks, rollouts, a collector, the
action mask through TorchRL's info reader and ``ActionMask`` transform, and the vector entry point."""

import gymnasium as gym
import pytest
import torch
from torchrl.collectors import Collector
from torchrl.data import Binary
from torchrl.envs import (
    ActionMask,
    GymEnv,
    GymWrapper,
    SerialEnv,
    TransformedEnv,
    check_env_specs,
    default_info_dict_reader,
)

import emo_env
from emo_env.envs import OBS_MODES


@pytest.mark.parametrize("obs_mode", OBS_MODES)
def test_gym_env_passes_the_spec_check_and_rolls_out(obs_mode):
    env = GymEnv("AVEmotion-v0", obs_mode=obs_mode)  # GymEnv first tries frameskip=1, refused in Python's wording
    check_env_specs(env, seed=0)
    single = gym.make("AVEmotion-v0", obs_mode=obs_mode)
    assert env.observation_spec["observation"].shape == single.observation_space.shape
    assert env.action_spec.space.n == single.action_space.n == len(emo_env.envs.AVEmotionEnv().store.class_names) + 1
    rollout = env.rollout(200, break_when_any_done=False)
    assert rollout.batch_size == (200,)
    done = rollout["next", "done"].squeeze(-1)
    assert done.sum() > 10 and not rollout["next", "truncated"].any()  # many short episodes, all by a decision
    assert torch.isin(rollout["next", "reward"][done], torch.tensor([-1.0, 1.0])).all()  # a decision scores +-1
    assert (rollout["next", "reward"][~done] < 0).all()  # a wait costs latency


def test_collector_gathers_1024_frames():
    env = GymEnv("AVEmotion-v0")
    collector = Collector(env, None, frames_per_batch=256, total_frames=1024)  # None: random policy
    batches = list(collector)
    collector.shutdown()
    assert [batch.numel() for batch in batches] == [256] * 4
    frames = torch.cat([batch["observation"] for batch in batches])
    assert frames.shape == (1024, *env.observation_spec["observation"].shape)
    assert sum(int(batch["next", "done"].sum()) for batch in batches) > 100


def test_serial_env_batches_gym_envs():
    """TorchRL's own batching of single envs."""
    envs = SerialEnv(3, lambda: GymEnv("AVEmotion-v0", obs_mode="probs"))
    check_env_specs(envs, seed=0)
    rollout = envs.rollout(50, break_when_any_done=False)
    assert rollout.batch_size == (3, 50) and rollout["next", "done"].sum() > 10
    envs.close()


def test_from_pixels_renders_rgb_frames():
    env = GymEnv("AVEmotion-v0", from_pixels=True, pixels_only=False)  # makes the env with render_mode="rgb_array"
    check_env_specs(env, seed=0)
    pixels = env.reset()["pixels"]
    assert pixels.shape == (400, 640, 3) and pixels.dtype == torch.uint8 and pixels.float().std() > 0


def test_action_mask_through_the_info_reader_and_the_action_mask_transform():
    """The mask of ``info`` becomes TorchRL's ``action_mask`` entry; ``ActionMask`` restricts the action spec, so
    random actions never wait at a clip's last step (where the env, made with ``last_step_wait="error"``, raises)."""
    env = GymEnv("AVEmotion-v0", obs_mode="probs", last_step_wait="error")
    num_actions = env.action_spec.space.n
    env.set_info_dict_reader(default_info_dict_reader(["action_mask"], spec=[Binary(num_actions, dtype=torch.int8)]))
    env = TransformedEnv(env, ActionMask())
    check_env_specs(env, seed=0)

    def wait_when_allowed(td):
        """Waits through every clip: only the mask stops it at the last step."""
        mask = td["action_mask"].bool()
        td["action"] = torch.nn.functional.one_hot(torch.where(mask[0], 0, 1), num_actions)
        return td

    rollout = env.rollout(300, wait_when_allowed, break_when_any_done=False)
    may_wait = rollout["action_mask"][:, 0].bool()
    assert torch.equal(rollout["next", "done"].squeeze(-1), ~may_wait)  # episodes end exactly where waits are masked
    assert (~may_wait).sum() >= 5
    random_rollout = env.rollout(300, break_when_any_done=False)  # TorchRL's random policy draws from the masked spec
    chosen = random_rollout["action"].argmax(-1)
    assert random_rollout["action_mask"].gather(-1, chosen[:, None]).all()


def test_vector_entry_point_with_disabled_autoreset_batches_and_collects():
    """TorchRL wraps Gymnasium vector envs with disabled (or same-step) autoreset only, and resets ended slots itself
    through ``reset(options={"reset_mask": ...})``."""
    envs = GymWrapper(gym.make_vec("AVEmotion-v0", num_envs=8, vectorization_mode="vector_entry_point",
                                   autoreset_mode=gym.vector.AutoresetMode.DISABLED))
    assert envs.batch_size == (8,)
    check_env_specs(envs, seed=0)
    rollout = envs.rollout(40, break_when_any_done=False)
    done = rollout["next", "done"].squeeze(-1)
    assert rollout.batch_size == (8, 40) and done.sum() > 40
    assert torch.isin(rollout["next", "reward"][done], torch.tensor([-1.0, 1.0])).all()
    assert (rollout["next", "reward"][~done] < 0).all()  # no reset steps: every transition is a wait or an answer
    collector = Collector(envs, None, frames_per_batch=256, total_frames=1024)
    assert sum(batch.numel() for batch in collector) == 1024
    collector.shutdown()
