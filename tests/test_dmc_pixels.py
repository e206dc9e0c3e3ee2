"""Dreamer end to end on DeepMind Control walker-walk from 64x64 pixels (tiny networks, CPU)."""

import gymnasium as gym
import pytest
from gymnasium.wrappers import AddRenderObservation
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_dreamer import Dreamer
from tests.envs import TINY


def make_walker_pixels() -> gym.Env:
    kwargs = dict(render_mode="rgb_array", render_kwargs=dict(width=64, height=64, camera_id=0), max_episode_steps=100)
    env = gym.make("dm_control/walker-walk-v0", **kwargs)
    return Monitor(AddRenderObservation(env, render_only=True))


@pytest.fixture(scope="module")
def walker():
    try:
        import shimmy  # noqa: F401  (registers dm_control/* ids)

        env = make_walker_pixels()
        env.reset(seed=0)
    except Exception as error:  # no EGL (or no dm_control) on this machine
        pytest.skip(f"DeepMind Control pixels unavailable: {error!r}")
    return env


def test_walker_walk_pixels_end_to_end(walker, tmp_path):
    assert walker.observation_space.shape == (64, 64, 3)
    model = Dreamer(
        "CnnPolicy",
        walker,
        seed=0,
        tensorboard_log=str(tmp_path / "tb"),
        image_log_interval=2,
        **{**TINY, "learning_starts": 300, "train_freq": 100, "batch_size": 4},
    )
    model.learn(600, progress_bar=True)
    assert model.num_timesteps == 600 and model._n_updates == 3
    assert model.replay_buffer.observations.dtype.name == "uint8"
    model.save(tmp_path / "walker")
    loaded = Dreamer.load(tmp_path / "walker", env=walker)
    mean, _ = evaluate_policy(loaded, walker, n_eval_episodes=1)
    assert 0.0 <= mean <= 1000.0
    assert any((tmp_path / "tb").iterdir())
