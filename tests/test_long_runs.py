"""Long runs that survive: checkpoints, exact resume after SIGKILL, memory-mapped replay, NaN losses, determinism."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import cloudpickle
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecNormalize, VecTransposeImage

from sb3_dreamer import (
    CheckpointError,
    Dreamer,
    DreamerV2,
    NonFiniteLossError,
    Plan2Explore,
    RunCheckpointCallback,
)
from sb3_dreamer.common import checkpoints
from tests.envs import TINY, ActionRewardEnv
from tests.test_dreamer import _ImageEnv

KWARGS = dict(TINY, seed=3)
TOTAL = 800


def parameters(model):
    return {key: value.clone() for key, value in model.policy.state_dict().items()}


def assert_same_parameters(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert th.equal(a[key], b[key]), key


def checkpoint_steps(run):
    return [int(os.path.basename(folder)[len(checkpoints.PREFIX) :]) for folder in checkpoints.checkpoints(run)]


class StopAt(BaseCallback):
    """Ends learn() (like a crash) once ``num_timesteps`` reaches ``step``."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def _on_step(self):
        return self.num_timesteps < self.step


def test_sigkill_then_resume_equals_the_uninterrupted_run(tmp_path):
    run = str(tmp_path / "run")
    script = textwrap.dedent(
        f"""
        import torch as th
        th.set_num_threads(1)
        from sb3_dreamer import Dreamer, RunCheckpointCallback
        from tests.envs import TINY
        model = Dreamer("MlpPolicy", "Pendulum-v1", **dict(TINY, seed=3))
        model.learn({TOTAL}, callback=RunCheckpointCallback(100, {run!r}, keep_last=2))
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=os.path.dirname(os.path.dirname(__file__)))
    deadline = time.time() + 300
    while not any(step >= 400 for step in checkpoint_steps(run)):
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    steps = checkpoint_steps(run)
    assert TOTAL > max(steps) >= 400  # the run was cut short

    # Nothing the last checkpoint held is lost: it loads with its counters and its replay.
    saved = Dreamer.load_checkpoint(run)
    assert saved.num_timesteps == max(steps)
    assert saved.replay_buffer.size() > max(steps)  # one row per step plus each episode's first observation
    saved_rows = saved.replay_buffer.size()
    saved_observations = saved.replay_buffer.observations[:saved_rows].copy()

    resumed = Dreamer.resume(run)
    assert resumed.num_timesteps == TOTAL
    assert np.array_equal(resumed.replay_buffer.observations[:saved_rows], saved_observations)
    assert checkpoint_steps(run)[-1] == TOTAL  # checkpointing went on into the same folder

    uninterrupted = Dreamer("MlpPolicy", "Pendulum-v1", **KWARGS).learn(TOTAL)
    assert resumed._n_updates == uninterrupted._n_updates
    assert_same_parameters(parameters(resumed), parameters(uninterrupted))
    size = uninterrupted.replay_buffer.size()
    assert np.array_equal(resumed.replay_buffer.observations[:size], uninterrupted.replay_buffer.observations[:size])


def test_plan2explore_resumes_exactly_across_its_phase_switch(tmp_path):
    algo, kwargs = Plan2Explore, dict(KWARGS, exploration_steps=250)
    uninterrupted = algo("MlpPolicy", "Pendulum-v1", **kwargs).learn(400)
    interrupted = algo("MlpPolicy", "Pendulum-v1", **kwargs)
    interrupted.learn(400, callback=[RunCheckpointCallback(200, str(tmp_path)), StopAt(330)])
    # drop the checkpoint written when learn() stopped: the run resumes from step 200, before the phase switch
    for folder in checkpoints.checkpoints(str(tmp_path))[1:]:
        os.rename(folder, folder.replace(checkpoints.PREFIX, "old_"))
    resumed = algo.resume(str(tmp_path))
    assert resumed.num_timesteps == 400
    assert_same_parameters(parameters(resumed), parameters(uninterrupted))


def test_a_crash_while_writing_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    model = Dreamer("MlpPolicy", "Pendulum-v1", **KWARGS)
    write = checkpoints.save_checked_pkl

    def crash_on_second(path, obj):
        if "checkpoint_000000000200" in str(path):
            raise OSError("disk full")
        write(path, obj)

    monkeypatch.setattr(checkpoints, "save_checked_pkl", crash_on_second)
    with pytest.raises(OSError, match="disk full"):
        model.learn(400, callback=RunCheckpointCallback(100, str(tmp_path), keep_last=1))
    assert checkpoint_steps(str(tmp_path)) == [100]
    assert any(name.endswith(".partial") for name in os.listdir(tmp_path))  # ignored
    assert Dreamer.load_checkpoint(str(tmp_path)).num_timesteps == 100


def test_checkpoints_keep_the_last_k_and_refuse_a_damaged_state(tmp_path):
    model = Dreamer("MlpPolicy", "Pendulum-v1", **KWARGS)
    model.learn(500, callback=RunCheckpointCallback(100, str(tmp_path), keep_last=2))
    assert checkpoint_steps(str(tmp_path)) == [400, 500]
    state = os.path.join(checkpoints.latest_checkpoint(str(tmp_path)), checkpoints.STATE_FILE)
    data = bytearray(open(state, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(state, "wb").write(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        Dreamer.resume(str(tmp_path))
    with pytest.raises(CheckpointError, match="is a Dreamer checkpoint"):
        DreamerV2.load_checkpoint(os.path.join(str(tmp_path), "checkpoint_000000000400"))
    with pytest.raises(CheckpointError, match="No complete checkpoint"):
        Dreamer.resume(str(tmp_path / "elsewhere"))


def test_image_envs_resume_exactly(tmp_path):
    """An HWC image env runs inside SB3's VecTransposeImage, whose attributes no pickler took whole: the checkpoint
    holds the wrapped env, and the resumed run continues its episode as the uninterrupted run does."""

    def model():
        env = _ImageEnv(16)
        env.length = 7  # an episode runs across the checkpoint at step 100
        return Dreamer("CnnPolicy", env, **KWARGS)

    uninterrupted = model().learn(200)
    interrupted = model()
    assert isinstance(interrupted.get_env(), VecTransposeImage)
    interrupted.learn(200, callback=[RunCheckpointCallback(100, str(tmp_path)), StopAt(150)])
    for folder in checkpoints.checkpoints(str(tmp_path))[1:]:  # resume from step 100, mid-episode
        os.rename(folder, folder.replace(checkpoints.PREFIX, "old_"))
    state = checkpoints.load_checked_pkl(os.path.join(checkpoints.latest_checkpoint(str(tmp_path)), checkpoints.STATE_FILE))
    assert state["env"] is not None
    resumed = Dreamer.resume(str(tmp_path))
    assert resumed.num_timesteps == 200
    assert_same_parameters(parameters(resumed), parameters(uninterrupted))
    size = uninterrupted.replay_buffer.size()
    assert resumed.replay_buffer.size() == size
    assert np.array_equal(resumed.replay_buffer.observations[:size], uninterrupted.replay_buffer.observations[:size])
    assert np.array_equal(resumed.replay_buffer.is_first[:size], uninterrupted.replay_buffer.is_first[:size])


def test_pickled_envs_keep_every_wrapper_whole():
    """VecNormalize pickles without the env it wraps and its running returns; dump_envs keeps both."""
    env = VecNormalize(VecFrameStack(DummyVecEnv([ActionRewardEnv]), 2), gamma=0.9)
    env.seed(0)
    env.reset()
    for _ in range(5):
        env.step(np.array([[0.5]]))
    copy = checkpoints.load_envs(checkpoints.dump_envs(env))
    assert isinstance(copy, VecNormalize) and isinstance(copy.venv, VecFrameStack)
    assert np.array_equal(copy.returns, env.returns) and np.array_equal(copy.obs_rms.mean, env.obs_rms.mean)
    for _ in range(3):
        steps = env.step(np.array([[-0.2]])), copy.step(np.array([[-0.2]]))
        assert all(np.array_equal(a, b) for a, b in zip(steps[0][:3], steps[1][:3], strict=True))
    assert copy.unwrapped.envs[0] is not env.unwrapped.envs[0]
    old = checkpoints.load_envs(cloudpickle.dumps(DummyVecEnv([ActionRewardEnv])))  # as checkpoints held them before
    assert isinstance(old, DummyVecEnv)


class UnpicklableEnv(ActionRewardEnv):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()


def test_unpicklable_envs_resume_in_new_episodes(tmp_path):
    model = Dreamer("MlpPolicy", UnpicklableEnv(), **KWARGS)
    with pytest.warns(UserWarning, match="cannot be pickled"):
        model.learn(200, callback=RunCheckpointCallback(100, str(tmp_path)))
    with pytest.raises(CheckpointError, match="pass env="):
        Dreamer.load_checkpoint(str(tmp_path))
    resumed = Dreamer.load_checkpoint(str(tmp_path), env=UnpicklableEnv())
    rows = resumed.replay_buffer.size()
    resumed.learn(100, reset_num_timesteps=False)
    assert resumed.num_timesteps == 300
    assert resumed.replay_buffer.is_first[rows]  # the new episode is marked, not joined to the old one


def test_nan_loss_stops_with_the_step_and_keeps_the_checkpoint(tmp_path):
    class Poison(BaseCallback):
        def _on_step(self):
            if self.num_timesteps == 250:
                self.model.replay_buffer.rewards[:] = np.nan
            return True

    model = Dreamer("MlpPolicy", "Pendulum-v1", **KWARGS)
    with pytest.raises(NonFiniteLossError, match=r"policy step 25\d\).*reward_loss"):
        model.learn(400, callback=[RunCheckpointCallback(100, str(tmp_path)), Poison()])
    assert checkpoint_steps(str(tmp_path))[-1] == 200
    restored = Dreamer.load_checkpoint(str(tmp_path))
    assert all(th.isfinite(value).all() for value in restored.policy.state_dict().values() if value.is_floating_point())


def test_same_seed_same_run():
    runs = [Dreamer("MlpPolicy", "Pendulum-v1", **KWARGS).learn(300) for _ in range(2)]
    assert_same_parameters(parameters(runs[0]), parameters(runs[1]))
    obs = np.random.default_rng(0).uniform(-1, 1, (4, 3)).astype(np.float32)
    actions = [run.predict(obs, deterministic=True)[0] for run in runs]
    assert np.array_equal(actions[0], actions[1])
    other = Dreamer("MlpPolicy", "Pendulum-v1", **dict(KWARGS, seed=4)).learn(300)
    assert not th.equal(
        parameters(other)["world_model.reward_model.net.0.weight"],
        parameters(runs[0])["world_model.reward_model.net.0.weight"],
    )


MEMMAP_SCRIPT = """
import resource, sys, numpy as np
from gymnasium import spaces
from sb3_dreamer import SequenceReplayBuffer

def data_bytes():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmData")).split()[1]) * 1024

frame = spaces.Box(0, 255, (3, 64, 64), np.uint8)
action = spaces.Box(-1, 1, (1,), np.float32)
rows = 12_000  # 147 MB of frames against 64 MB of headroom
limit = data_bytes() + 64 * 2**20
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
try:
    SequenceReplayBuffer(rows, frame, action, device="cpu")
    sys.exit("a RAM buffer of this size fit under the limit")
except MemoryError:
    print("RAM buffer refused")
buffer = SequenceReplayBuffer(rows, frame, action, device="cpu", storage_dir=sys.argv[1])
obs = np.zeros((1, 3, 64, 64), np.uint8)
for step in range(rows - 1):
    obs[:] = step % 251
    buffer.add(obs, obs, np.full((1, 1), 0.0), np.array([float(step)]), np.array([False]), [{}])
batch = buffer.sample(16, sequence_length=20)
rewards = batch.rewards.numpy()
assert buffer.size() == rows
assert np.all(np.diff(rewards[:, 1:], axis=1) == 1), "sequences are consecutive steps"
frames = batch.observations["observation"].numpy()
assert np.array_equal(frames[:, 1:, 0, 0, 0], rewards[:, 1:] % 251), "frames belong to their steps"
assert np.all(frames[:, 1:] == frames[:, 1:, :1, :1, :1]), "whole frames were kept"
print("sampled", rewards.min(), rewards.max())
"""


def test_memory_mapped_replay_holds_more_than_fits_in_ram(tmp_path):
    result = subprocess.run([sys.executable, "-c", MEMMAP_SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "RAM buffer refused" in result.stdout and "sampled" in result.stdout


def test_memory_mapped_replay_saves_loads_and_resumes(tmp_path):
    storage = str(tmp_path / "replay")
    model = Dreamer("MlpPolicy", "Pendulum-v1", replay_buffer_kwargs=dict(storage_dir=storage), **KWARGS)
    model.learn(300, callback=RunCheckpointCallback(200, str(tmp_path / "run")))
    assert isinstance(model.replay_buffer.observations, np.memmap)
    resumed = Dreamer.load_checkpoint(str(tmp_path / "run"))
    rows = resumed.replay_buffer.size()
    assert np.array_equal(resumed.replay_buffer.observations[:rows], model.replay_buffer.observations[:rows])
    assert len(os.listdir(storage)) == 1  # the empty buffer built by load() left no file behind
    resumed.learn(100, reset_num_timesteps=False)
    assert resumed.num_timesteps == 400
