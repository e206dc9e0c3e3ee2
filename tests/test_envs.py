"""The ready-made environments: both env checkers, seeding, pixels independent of render_mode,
action repeat, truncation, the POMDP variants, bad arguments, and a Dict env that trains."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first

from sb3_dreamer import Dreamer
from sb3_dreamer.common import checkpoints
from sb3_dreamer.envs import (
    DMC_TASKS,
    InertActionDimension,
    MaskObservation,
    dmc_id,
    make_dmc_env,
    make_minatar_env,
    mask_velocity,
    minatar_id,
)
from tests.envs import TINY

#: checker warnings that do not matter here, and why
EXPECTED_WARNINGS = (
    "minimum value is -infinity",  # DMC proprioception is unbounded: honest infinite bounds
    "maximum value is infinity",
    "minimal resolution for an image is 36x36",  # about SB3's NatureCNN; our encoder takes 7x7 and up
    # dm_control 1.0.50 (mujoco/index.py) sets ndarray.shape, which NumPy 2.5 deprecates; not our code
    "Setting the shape on a NumPy array has been deprecated",
)

ENV_IDS = [
    dmc_id("walker-walk", "pixels"),
    dmc_id("cartpole-balance", "proprio"),
    dmc_id("cartpole-balance", "both"),
    dmc_id("walker-walk", "proprio", pomdp=True),
    minatar_id("breakout"),
    minatar_id("seaquest"),  # 10 channels on a 10x10 grid: channel-first must stay unambiguous
    minatar_id("space_invaders", pomdp=True),
    "POMDP/CartPole-v1",
]


def _make(env_id, **kwargs):
    if env_id.startswith("MinAtar"):
        pytest.importorskip("minatar")
    return gym.make(env_id, **kwargs)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_checkers_pass(env_id):
    classic = env_id.startswith("POMDP")  # gymnasium renders classic control with pygame, which we do not install
    render_modes = [None] if classic else [None, "rgb_array"]
    for render_mode in render_modes:
        env = _make(env_id, render_mode=render_mode)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sb3_check_env(env)
            gym_check_env(env if classic else env.unwrapped, skip_render_check=classic)
        messages = [str(w.message) for w in caught if w.category is not ResourceWarning]  # other tests' files, collected
        unexpected = [m for m in messages if not any(e in m for e in EXPECTED_WARNINGS)]
        if classic:  # gymnasium notes that a wrapped env is checked; that is the point here
            unexpected = [m for m in unexpected if "different from the unwrapped version" not in m]
        assert not unexpected, unexpected
        if render_mode == "rgb_array":
            frame = env.render()
            assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[-1] == 3
        env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_reset_with_seed_is_reproducible(env_id):
    def rollout(seed):
        env = _make(env_id)
        env.action_space.seed(seed)
        obs = [env.reset(seed=seed)[0]]
        for _ in range(5):
            obs.append(env.step(env.action_space.sample())[0])
        return [np.concatenate([np.ravel(v) for v in (o.values() if isinstance(o, dict) else [o])]) for o in obs]

    first, again, other = rollout(3), rollout(3), rollout(4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    if not env_id.startswith("MinAtar"):  # MinAtar's Breakout and Seaquest start from the same screen
        assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_pixels_do_not_depend_on_render_mode():
    def pixels(**kwargs):
        env = make_dmc_env("cartpole-swingup", obs="both", size=32, **kwargs)
        obs, _ = env.reset(seed=0)
        frames = [obs["pixels"]]
        for action in np.linspace(-1, 1, 4, dtype=np.float32):
            obs, *_ = env.step(np.array([action]))
            frames.append(obs["pixels"])
            if env.render_mode:
                assert env.render().shape == (kwargs.get("render_size") or 32, kwargs.get("render_size") or 32, 3)
        return np.stack(frames)

    reference = pixels()
    assert reference.shape == (5, 32, 32, 3) and reference.std() > 0
    np.testing.assert_array_equal(pixels(render_mode="rgb_array"), reference)
    np.testing.assert_array_equal(pixels(render_mode="rgb_array", render_size=48), reference)


def test_pixel_envs_pickled_mid_episode_continue_it_exactly():
    """What a checkpoint holds: a DMC pixel env in SB3's VecTransposeImage, pickled mid-episode, renders and steps
    as the original does, through the episode's end and the reset after it."""
    env = Dreamer._wrap_env(make_dmc_env("cartpole-balance", size=32, time_limit=0.3), monitor_wrapper=False)
    env.seed(0)
    env.reset()
    actions = np.random.default_rng(0).uniform(-1, 1, (30, 1, 1)).astype(np.float32)
    for action in actions[:5]:
        env.step(action)
    copy = checkpoints.load_envs(checkpoints.dump_envs(env))
    dones = 0
    for action in actions[5:]:
        ours, theirs = env.step(action), copy.step(action)
        for a, b in zip(ours[:3], theirs[:3], strict=True):
            np.testing.assert_array_equal(a, b)
        dones += int(ours[2][0])
    assert dones >= 2  # 15 policy steps an episode: the copy continued its episode and began the next ones alike


def test_action_repeat_sums_rewards_and_stops_at_the_episode_end():
    actions = np.random.default_rng(0).uniform(-1, 1, (400, 1)).astype(np.float32)
    single = make_dmc_env("cartpole-swingup", obs="proprio", action_repeat=1)
    single.reset(seed=0)
    rewards = []
    for action in np.repeat(actions, 3, axis=0):  # what action repeat 3 does, step by step
        _, reward, terminated, truncated, _ = single.step(action)
        rewards.append(reward)
        assert not terminated
        if truncated:
            break
    assert len(rewards) == 1000  # the suite's time limit, in control steps

    repeated = make_dmc_env("cartpole-swingup", obs="proprio", action_repeat=3)
    repeated.reset(seed=0)
    sums = []
    for action in actions:
        _, reward, terminated, truncated, _ = repeated.step(action)
        sums.append(reward)
        if terminated or truncated:
            break
    # 333 full repeats, then one last control step: the episode ends, as a truncation, mid-repeat
    assert len(sums) == 334 and truncated and not terminated
    np.testing.assert_allclose(sums, [sum(rewards[i : i + 3]) for i in range(0, 1000, 3)], rtol=1e-9)
    assert max(sums) > 0.1  # rewards that are not all near zero
    np.testing.assert_allclose(repeated._physics.time(), single._physics.time())  # no step past the end


def test_action_repeat_wrapper_sums_rewards_and_stops_at_the_episode_end():
    from sb3_dreamer.envs import ActionRepeat

    single, repeated = gym.make("CartPole-v1"), ActionRepeat(gym.make("CartPole-v1"), 3)
    obs, _ = single.reset(seed=0)
    repeated_obs, _ = repeated.reset(seed=0)
    np.testing.assert_array_equal(obs, repeated_obs)
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, _ = single.step(1)
        total, steps, done = total + reward, steps + 1, terminated or truncated
    repeated_total, policy_steps, done = 0.0, 0, False
    while not done:
        repeated_obs, reward, terminated, truncated, _ = repeated.step(1)
        repeated_total, policy_steps, done = repeated_total + reward, policy_steps + 1, terminated or truncated
    np.testing.assert_array_equal(obs, repeated_obs)  # stopped at the same step, not past the end
    assert (repeated_total, policy_steps) == (total, -(-steps // 3))
    with pytest.raises(ValueError, match="repeat"):
        ActionRepeat(gym.make("CartPole-v1"), 0)


def test_truncation_is_not_termination_through_sb3():
    """SB3's VecEnvs see the DMC time limit as a timeout (``TimeLimit.truncated``), not a terminal state."""
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(dmc_id("cartpole-balance", "proprio"), n_envs=1, seed=0, env_kwargs={"action_repeat": 8})
    venv.reset()
    steps = 0
    dones = [False]
    while not dones[0]:
        _, _, dones, infos = venv.step(np.zeros((1, 1), np.float32))
        steps += 1
    assert steps == 125 and infos[0]["TimeLimit.truncated"]  # 1000 control steps / 8


def test_pomdp_variants_hide_velocities():
    full = make_dmc_env("walker-walk", obs="proprio")
    masked = make_dmc_env("walker-walk", obs="proprio", pomdp=True)
    assert masked.proprio_keys == ["height", "orientations"] and full.observation_space.shape == (24,)
    assert masked.observation_space.shape == (15,)  # 24 minus 9 joint velocities
    np.testing.assert_array_equal(full.reset(seed=1)[0][:15], masked.reset(seed=1)[0])

    cartpole = mask_velocity(gym.make("CartPole-v1"))
    obs, _ = cartpole.reset(seed=0)
    np.testing.assert_array_equal(obs, gym.make("CartPole-v1").reset(seed=0)[0][[0, 2]])
    with pytest.raises(ValueError, match="MaskObservation"):
        mask_velocity(gym.make("FrozenLake-v1"))
    with pytest.raises(ValueError, match="indices"):
        MaskObservation(gym.make("CartPole-v1"), hidden=[4])


def test_minatar_is_an_image_with_pomdp_channels_removed():
    pytest.importorskip("minatar")
    env = make_minatar_env("breakout")
    masked = make_minatar_env("breakout", pomdp=True)
    assert is_image_space(env.observation_space) and is_image_space_channels_first(env.observation_space)
    assert env.observation_space.shape == (4, 10, 10) and masked.observation_space.shape == (3, 10, 10)
    obs, _ = env.reset(seed=0)
    hidden, _ = masked.reset(seed=0)
    assert set(np.unique(obs)) <= {0, 255}
    np.testing.assert_array_equal(hidden, obs[[0, 1, 3]])  # paddle, ball, brick; the trail is gone
    assert isinstance(env.action_space, gym.spaces.Discrete) and env.action_space.n == 3


def test_bad_arguments_list_what_is_valid():
    with pytest.raises(ValueError, match=r"valid domains: \[.*'walker'"):
        make_dmc_env("walkr-walk")
    with pytest.raises(ValueError, match=r"valid tasks: \['run', 'stand', 'walk'\]"):
        make_dmc_env("walker-fly")
    with pytest.raises(ValueError, match=r"valid modes: \['pixels', 'proprio', 'both'\]"):
        make_dmc_env("walker-walk", obs="rgb")
    with pytest.raises(ValueError, match="size >= 7"):
        make_dmc_env("walker-walk", size=4)
    with pytest.raises(ValueError, match="obs='proprio'"):
        make_dmc_env("walker-walk", pomdp=True)
    with pytest.raises(ValueError, match="valid games"):
        make_minatar_env("pong")


def test_registered_ids_are_stable():
    from dm_control import suite

    assert {tuple(task.split("-")) for task in DMC_TASKS} <= set(suite.ALL_TASKS)
    assert dmc_id("walker-walk") == "DMC/walker-walk-pixels-v0" and dmc_id("walker-walk", "proprio", True) in gym.registry
    assert minatar_id("space_invaders", pomdp=True) == "MinAtar/SpaceInvaders-image-pomdp-v0" in gym.registry
    assert all(dmc_id(task, obs) in gym.registry for task in DMC_TASKS for obs in ("pixels", "proprio", "both"))
    for task in DMC_TASKS:  # every POMDP variant hides something
        full, masked = make_dmc_env(task, obs="proprio"), gym.make(dmc_id(task, "proprio", pomdp=True))
        assert 0 < masked.observation_space.shape[0] < full.observation_space.shape[0], task


def test_dict_env_trains_with_multi_input_policy():
    env = make_dmc_env("cartpole-balance", obs="both", size=32, action_repeat=4)
    model = Dreamer("MultiInputPolicy", env, seed=0, **TINY)
    model.learn(300)
    assert model.num_timesteps == 300 and model._n_updates > 0
    assert model.replay_buffer.observations["pixels"].dtype == np.uint8
    action, _ = model.predict(env.reset(seed=1)[0], deterministic=True)
    assert action.shape == (1,) and env.action_space.contains(action)


def test_minatar_trains_with_cnn_policy():
    pytest.importorskip("minatar")
    env = make_minatar_env("breakout", pomdp=True)
    model = Dreamer("CnnPolicy", env, seed=0, **TINY)
    model.learn(200)
    assert model._n_updates > 0 and model.policy.image_keys
    assert model.replay_buffer.observations.dtype == np.uint8
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))


def test_module_prefix_makes_ids_without_a_prior_import():
    import subprocess
    import sys

    code = "import gymnasium as gym; print(gym.make('sb3_dreamer:DMC/cartpole-balance-proprio-v0').observation_space)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "(5,)" in out and "float32" in out


def test_multidiscrete_classic_env_has_an_inert_dimension():
    """``MultiDiscrete/CartPole-v1``: actions ``[push, inert]``; the inert component changes nothing."""
    envs = [gym.make("MultiDiscrete/CartPole-v1") for _ in range(2)]
    assert envs[0].action_space == gym.spaces.MultiDiscrete([2, 3])
    for env in envs:
        env.reset(seed=3)
    for t in range(20):
        steps = [env.step(np.array([t % 2, inert])) for env, inert in zip(envs, (0, 2), strict=True)]
        assert np.array_equal(steps[0][0], steps[1][0]) and steps[0][1:3] == steps[1][1:3]
    with pytest.raises(ValueError, match="Discrete actions"):
        InertActionDimension(gym.make("Pendulum-v1"))
