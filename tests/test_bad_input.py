"""Property-based bad input: malformed spaces, observations and files end in a clear exception from
sb3_dreamer (or are handled correctly), never in a crash deep inside torch or a silently wrong result."""

import io

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from stable_baselines3 import SAC
from stable_baselines3.common.env_util import make_vec_env

from sb3_dreamer import CheckpointError, Dreamer, ObservationError, Plan2Explore, UnsupportedSpaceError
from sb3_dreamer.common.checks import check_action_space, check_observation, check_observation_space, check_replay_buffer
from tests.envs import TINY

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
QUICK = dict(TINY, learning_starts=4, batch_size=2, sequence_length=3, seed=0)


# ---------------------------------------------------------------- spaces
@st.composite
def boxes(draw, float_only=False):
    dtype = draw(st.sampled_from([np.float32] if float_only else [np.float32, np.float64, np.float16, np.int32, np.uint8]))
    if draw(st.booleans()) and not float_only:
        dtype, shape, low, high = np.uint8, draw(st.sampled_from([(3, 16, 16), (16, 16, 3), (1, 8, 8), (5, 5, 2)])), 0, 255
    else:
        size = st.sampled_from([1, 1, 2, 3, 0])
        shape = tuple(draw(st.lists(size, min_size=draw(st.sampled_from([1, 1, 1, 0])), max_size=3)))
        low = draw(st.sampled_from([-1.0, -1.0, 0.0, 2.0, -np.inf]))
        high = draw(st.sampled_from([1.0, 1.0, 2.0, np.inf]))
    try:
        return spaces.Box(low, high, shape, dtype)
    except (ValueError, AssertionError, TypeError, OverflowError):
        assume(False)


def discrete_spaces():
    return st.one_of(
        st.builds(spaces.Discrete, st.integers(2, 4)),
        st.builds(spaces.Discrete, st.integers(1, 4), start=st.sampled_from([0, 0, 2, -1])),
        st.builds(spaces.MultiDiscrete, st.lists(st.integers(1, 3), min_size=1, max_size=3) | st.just([[2, 3], [2, 2]])),
        st.builds(spaces.MultiBinary, st.sampled_from([1, 3, (2, 2)])),
    )


def other_spaces():
    return st.sampled_from(
        [spaces.Text(4), spaces.Tuple((spaces.Discrete(2), spaces.Discrete(3))), spaces.Sequence(spaces.Discrete(2))]
    )


def leaf_spaces():
    return st.one_of(boxes(), boxes(), discrete_spaces(), other_spaces())


observation_spaces = st.one_of(
    leaf_spaces(),
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.one_of(leaf_spaces(), st.builds(lambda s: spaces.Dict({"x": s}), boxes())),
        max_size=3,
    ).map(spaces.Dict),
)
action_spaces = st.one_of(boxes(float_only=True), boxes(float_only=True), boxes(), discrete_spaces(), other_spaces())


class SpaceEnv(gym.Env):
    def __init__(self, observation_space, action_space):
        self.observation_space, self.action_space = observation_space, action_space
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        return self.observation_space.sample(), 0.5, False, self.t >= 5, {}


@SETTINGS
@given(
    observation_spaces, action_spaces, st.sampled_from(["natural", "natural", "MlpPolicy", "CnnPolicy", "MultiInputPolicy"])
)
def test_any_space_is_refused_clearly_or_learned_from(observation_space, action_space, policy):
    if policy == "natural":
        policy = "MultiInputPolicy" if isinstance(observation_space, spaces.Dict) else "MlpPolicy"
    env = SpaceEnv(observation_space, action_space)
    try:
        model = Dreamer(policy, env, **QUICK)
    except UnsupportedSpaceError:
        event("refused")
        return
    event("learned")
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs)
    assert action_space.contains(action), (action, action_space)
    model.learn(10)
    assert model._n_updates > 0
    assert all(th.isfinite(p).all() for p in model.policy.parameters())


# ---------------------------------------------------------------- observations at predict
OBS_SPACE = spaces.Dict(
    {
        "image": spaces.Box(0, 255, (3, 8, 8), np.uint8),
        "vector": spaces.Box(-1, 1, (2,), np.float32),
        "choice": spaces.Discrete(3),
    }
)


@pytest.fixture(scope="module")
def dict_model():
    return Dreamer("MultiInputPolicy", SpaceEnv(OBS_SPACE, spaces.Discrete(2)), **QUICK)


def valid(value, space):
    """The test's oracle: one observation or a batch of them, in the space (vectors may leave their bounds)."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        return False
    shape = () if isinstance(space, spaces.Discrete) else space.shape
    rows = (
        [array] if array.shape == shape else list(array) if array.ndim == len(shape) + 1 and array.shape[1:] == shape else None
    )
    if rows is None or not np.all(np.isfinite(array)):
        return False
    if isinstance(space, spaces.Box) and space.dtype == np.float32:
        return True
    return all(np.array_equal(row, np.round(row)) and space.contains(np.asarray(row).astype(space.dtype)) for row in rows)


def malformed(key, space):
    good = st.just(space.sample())
    good = st.one_of(good, good, good, good.map(lambda x: np.stack([x, x])))
    dtypes = st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_, np.complex64])
    shapes = st.sampled_from([(), (1,), (2,), (3,), (2, 2), (3, 8, 8), (8, 8, 3), (1, 3, 8, 8), (2, 3, 8, 8), (4, 2)])
    numbers = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.integers(-3, 300)

    def array(dtype, shape):
        return hnp.arrays(dtype, shape, elements=numbers.filter(lambda x: _representable(x, dtype)))

    bad = st.one_of(st.tuples(dtypes, shapes).flatmap(lambda t: array(*t)), st.just("text"), st.just([[1, "a"]]))
    return st.one_of(good, bad)


def _representable(x, dtype):
    try:
        with np.errstate(all="ignore"):
            return np.asarray(x).astype(dtype).item() == x or np.issubdtype(dtype, np.floating) or dtype == np.complex64
    except (OverflowError, ValueError, TypeError):
        return False


@SETTINGS
@given(st.data())
def test_malformed_observations_are_refused_at_predict(dict_model, data):
    obs = {key: data.draw(malformed(key, space), label=key) for key, space in OBS_SPACE.spaces.items()}
    if data.draw(st.booleans(), label="drop a key"):
        obs.pop("vector")
    try:
        action, _ = dict_model.predict(obs)
    except ObservationError:
        event("refused")
        return
    event("accepted")
    assert set(obs) == set(OBS_SPACE.spaces) and all(valid(obs[key], space) for key, space in OBS_SPACE.spaces.items()), obs
    assert np.all(np.isin(action, [0, 1]))


def test_observations_of_the_wrong_kind(dict_model):
    with pytest.raises(ObservationError, match="dict observation"):
        dict_model.predict(np.zeros(3))
    with pytest.raises(ObservationError, match="keys"):
        dict_model.predict({**OBS_SPACE.sample(), "extra": np.zeros(1)})
    with pytest.raises(ObservationError, match="batch size"):
        sample = OBS_SPACE.sample()
        dict_model.predict(
            {"image": np.stack([sample["image"]] * 2), "vector": sample["vector"][None], "choice": np.array([1, 2])}
        )


@pytest.mark.parametrize(
    "check, space, message",
    [
        (check_observation_space, spaces.Dict({}), "observation Dict is empty"),
        (check_observation_space, spaces.Discrete(3, start=1), "must start at 0; shift it"),
        (check_observation_space, spaces.MultiDiscrete([[2, 3], [2, 2]]), "1-D MultiDiscrete; flatten it"),
        (check_action_space, spaces.Box(0, 10, (2,), np.int32), "float dtype; use Discrete or MultiDiscrete"),
        (check_action_space, spaces.Box(1.0, 1.0, (2,), np.float32), "low < high in every dimension"),
    ],
)
def test_each_refused_space_says_what_to_do(check, space, message):
    """The refusals that the drawn spaces above rarely reach, one by one, with the fix their message names."""
    with pytest.raises(UnsupportedSpaceError, match=message):
        check(space)


@pytest.mark.parametrize(
    "observation, message",
    [
        ({"a": np.zeros(2)}, "array observation of space"),
        ([[1.0, 2.0], [3.0]], "is not an array"),
        (np.array([np.nan, 0.0], np.float32), "NaN or infinite"),
        (np.array([[0.0, 0.0], [np.inf, 0.0]], np.float32), "NaN or infinite"),
    ],
)
def test_each_refused_observation_says_why(observation, message):
    with pytest.raises(ObservationError, match=message):
        check_observation(observation, spaces.Box(-1, 1, (2,), np.float32))


# ---------------------------------------------------------------- files at load
@pytest.fixture(scope="module")
def saved():
    model = Dreamer("MlpPolicy", "Pendulum-v1", **QUICK)
    model.learn(10)
    zip_file, replay = io.BytesIO(), io.BytesIO()
    model.save(zip_file)
    model.save_replay_buffer(replay)
    return model, zip_file.getvalue(), replay.getvalue()


def damage(data):
    """Truncate, flip a byte, or replace the whole content."""
    return st.one_of(
        st.integers(0, len(data) - 1).map(lambda k: data[:k]),
        st.integers(0, len(data) - 1).map(lambda k: data[:k] + bytes([data[k] ^ 0xFF]) + data[k + 1 :]),
        st.binary(max_size=256),
    )


@SETTINGS
@given(st.data())
def test_damaged_zip_is_refused_or_loads_exactly(saved, tmp_path_factory, data):
    model, zip_bytes, _ = saved
    path = tmp_path_factory.mktemp("zip") / "model.zip"
    path.write_bytes(data.draw(damage(zip_bytes)))
    try:
        loaded = Dreamer.load(path)
    except CheckpointError:
        return
    for key, value in model.policy.state_dict().items():
        assert th.equal(value, loaded.policy.state_dict()[key]), key


@SETTINGS
@given(st.data())
def test_damaged_replay_is_refused_or_loads_exactly(saved, tmp_path_factory, data):
    model, _, replay_bytes = saved
    path = tmp_path_factory.mktemp("replay") / "replay.pkl"
    path.write_bytes(data.draw(damage(replay_bytes)))
    fresh = Dreamer("MlpPolicy", "Pendulum-v1", **QUICK)
    try:
        fresh.load_replay_buffer(path)
    except CheckpointError:
        return
    for name in ("observations", "actions", "rewards", "is_first", "dones", "env_pos"):
        assert np.array_equal(getattr(fresh.replay_buffer, name), getattr(model.replay_buffer, name)), name


def test_files_of_other_models_are_refused(saved, tmp_path):
    _, _, replay_bytes = saved
    SAC("MlpPolicy", "Pendulum-v1").save(tmp_path / "sac")
    with pytest.raises(CheckpointError, match="does not hold a Dreamer model"):
        Dreamer.load(tmp_path / "sac.zip")
    Plan2Explore("MlpPolicy", "Pendulum-v1", **QUICK).save(tmp_path / "p2e")
    with pytest.raises(CheckpointError, match="plan2explore"):
        Dreamer.load(tmp_path / "p2e.zip")
    (tmp_path / "replay.pkl").write_bytes(replay_bytes)
    other = Dreamer("MlpPolicy", "MountainCarContinuous-v0", **QUICK)
    with pytest.raises(CheckpointError, match="observation space"):
        other.load_replay_buffer(tmp_path / "replay.pkl")
    two_envs = Dreamer("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=2), **QUICK)
    with pytest.raises(CheckpointError, match="environment streams"):
        two_envs.load_replay_buffer(tmp_path / "replay.pkl")


def test_replays_that_are_not_ours_or_are_inconsistent_are_refused(saved):
    model, _, _ = saved
    buffer, spaces_and_envs = model.replay_buffer, (model.observation_space, model.action_space, 1)
    check_replay_buffer(buffer, *spaces_and_envs, "the file")  # the model's own replay passes
    with pytest.raises(CheckpointError, match="holds a dict, not a SequenceReplayBuffer"):
        check_replay_buffer({}, *spaces_and_envs, "the file")
    position = buffer.env_pos.copy()
    try:
        buffer.env_pos[0] = buffer.buffer_size  # a write position past the end of its stream
        with pytest.raises(CheckpointError, match="inconsistent replay buffer"):
            check_replay_buffer(buffer, *spaces_and_envs, "the file")
    finally:
        buffer.env_pos[:] = position
