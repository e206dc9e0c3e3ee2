"""SB3's own generic tests (from its sdist, see ``sb3_upstream.py``), called with each of our algorithms."""

import pytest
import torch as th
from gymnasium import spaces

from sb3_dreamer import TINY, Dreamer, DreamerV2, DreamerV3, Plan2Explore
from tests.sb3_upstream import load


@pytest.fixture(params=[Dreamer, DreamerV2, DreamerV3, Plan2Explore], ids=lambda algo: algo.__name__)
def algo(request):
    return request.param


def _small(algo):
    """``algo`` with TINY's sizes as defaults; the arguments SB3's test passes still win. For the tests that
    check the replay, callbacks or VecEnvs rather than the model: the paper's sizes cost seconds per update."""

    class Small(algo):
        def __init__(self, policy, env, **kwargs):
            policy_kwargs = {**TINY["policy_kwargs"], **(kwargs.pop("policy_kwargs", None) or {})}
            super().__init__(policy, env, **{**TINY, **kwargs, "policy_kwargs": policy_kwargs})

    Small.__name__ = algo.__name__
    return Small


@pytest.fixture(scope="module")
def save_load():
    return load("test_save_load")


def test_save_load(algo, save_load, tmp_path):
    save_load.test_save_load(tmp_path, algo)


def test_set_env(algo, save_load, tmp_path):
    save_load.test_set_env(tmp_path, algo)


def test_exclude_include_saved_params(algo, save_load, tmp_path):
    save_load.test_exclude_include_saved_params(tmp_path, algo)


def test_save_load_env_cnn(algo, save_load, tmp_path):
    save_load.test_save_load_env_cnn(tmp_path, algo)


def test_save_load_replay_buffer(algo, save_load, tmp_path):
    save_load.test_save_load_replay_buffer(tmp_path, _small(algo))


@pytest.mark.parametrize("policy_str", ["MlpPolicy", "CnnPolicy"])
def test_save_load_policy(algo, save_load, tmp_path, policy_str):
    save_load.test_save_load_policy(tmp_path, algo, policy_str, use_sde=False)


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "CartPole-v1"])
@pytest.mark.parametrize("device", ["cpu", "auto", "cuda"])
def test_predict(algo, env_id, device):
    if device == "cuda" and not th.cuda.is_available():
        pytest.skip("CUDA not available")
    load("test_predict").test_predict(algo, env_id, device)


def test_auto_wrap(algo):
    load("test_predict").test_auto_wrap(algo)


def test_callbacks(algo, tmp_path):
    load("test_callbacks").test_callbacks(tmp_path, _small(algo))


def test_cnn(algo, tmp_path):
    load("test_cnn").test_cnn(tmp_path, algo, share_features_extractor=False)


@pytest.mark.parametrize("normalize_images", [True, False])
def test_image_like_input(algo, normalize_images):
    load("test_cnn").test_image_like_input(algo, normalize_images)


def test_dict_consistency(algo):
    load("test_dict_env").test_consistency(algo)


@pytest.mark.parametrize("channel_last", [False, True])
def test_dict_spaces(algo, channel_last):
    load("test_dict_env").test_dict_spaces(algo, channel_last)


@pytest.mark.parametrize("channel_last", [False, True])
def test_dict_vec_framestack(algo, channel_last):
    load("test_dict_env").test_dict_vec_framestack(algo, channel_last)


def test_dict_vec_normalize(algo):
    load("test_dict_env").test_vec_normalize(algo)


@pytest.mark.parametrize("obs", ["BOX_SPACE_FLOAT32", "BOX_SPACE_FLOAT64", "dict32", "dict64"])
@pytest.mark.parametrize("action", ["BOX_SPACE_FLOAT32", "BOX_SPACE_FLOAT64"])
def test_float64_action_space(algo, obs, action):
    module = load("test_spaces")
    f32, f64 = module.BOX_SPACE_FLOAT32, module.BOX_SPACE_FLOAT64
    obs_space = {
        "BOX_SPACE_FLOAT32": f32,
        "BOX_SPACE_FLOAT64": f64,
        "dict32": spaces.Dict({"a": f32, "b": f32}),
        "dict64": spaces.Dict({"a": f32, "b": f64}),
    }[obs]
    module.test_float64_action_space(_small(algo), obs_space, getattr(module, action))


@pytest.mark.parametrize(
    "action_space", [spaces.MultiDiscrete([4, 3]), spaces.MultiBinary(8), spaces.MultiBinary((3, 2))], ids=str
)
def test_factorised_action_spaces(algo, action_space):
    """SB3's space test (learn 64 steps, then ``predict`` in the env's dtype) with MultiDiscrete and MultiBinary
    actions, which SB3's own off-policy algorithms refuse."""
    module = load("test_spaces")
    module.test_float64_action_space(_small(algo), module.BOX_SPACE_FLOAT32, action_space)


def test_deterministic_training(algo):
    load("test_deterministic").test_deterministic_training_common(algo)


def test_offpolicy_multi_env(algo):
    load("test_run").test_offpolicy_multi_env(_small(algo))


def _upper_case_log_name(algo):
    """SB3's test expects the default ``tb_log_name`` to be the upper-cased key of its MODEL_DICT."""

    class UpperCaseLogName(algo):
        def learn(self, *args, tb_log_name: str = algo.__name__.upper(), **kwargs):
            return super().learn(*args, tb_log_name=tb_log_name, **kwargs)

    return UpperCaseLogName


def test_tensorboard(algo, tmp_path, monkeypatch):
    module = load("test_tensorboard")
    key = algo.__name__.lower()
    monkeypatch.setitem(module.MODEL_DICT, key, (_upper_case_log_name(algo), "Pendulum-v1"))
    module.test_tensorboard(tmp_path, key)
