"""SB3's own generic tests (from its sdist, see ``sb3_upstream.py``), called with :class:`Dreamer`."""

import pytest
import torch as th

from sb3_dreamer import Dreamer
from tests.sb3_upstream import load


@pytest.fixture(scope="module")
def save_load():
    return load("test_save_load")


def test_save_load(save_load, tmp_path):
    save_load.test_save_load(tmp_path, Dreamer)


def test_set_env(save_load, tmp_path):
    save_load.test_set_env(tmp_path, Dreamer)


def test_exclude_include_saved_params(save_load, tmp_path):
    save_load.test_exclude_include_saved_params(tmp_path, Dreamer)


def test_save_load_env_cnn(save_load, tmp_path):
    save_load.test_save_load_env_cnn(tmp_path, Dreamer)


def test_save_load_replay_buffer(save_load, tmp_path):
    save_load.test_save_load_replay_buffer(tmp_path, Dreamer)


@pytest.mark.parametrize("policy_str", ["MlpPolicy", "CnnPolicy"])
def test_save_load_policy(save_load, tmp_path, policy_str):
    save_load.test_save_load_policy(tmp_path, Dreamer, policy_str, use_sde=False)


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "CartPole-v1"])
@pytest.mark.parametrize("device", ["cpu", "auto", "cuda"])
def test_predict(env_id, device):
    if device == "cuda" and not th.cuda.is_available():
        pytest.skip("CUDA not available")
    load("test_predict").test_predict(Dreamer, env_id, device)


def test_auto_wrap():
    load("test_predict").test_auto_wrap(Dreamer)


def test_callbacks(tmp_path):
    load("test_callbacks").test_callbacks(tmp_path, Dreamer)


def test_cnn(tmp_path):
    load("test_cnn").test_cnn(tmp_path, Dreamer, share_features_extractor=False)


@pytest.mark.parametrize("normalize_images", [True, False])
def test_image_like_input(normalize_images):
    load("test_cnn").test_image_like_input(Dreamer, normalize_images)


def test_dict_consistency():
    load("test_dict_env").test_consistency(Dreamer)


@pytest.mark.parametrize("channel_last", [False, True])
def test_dict_spaces(channel_last):
    load("test_dict_env").test_dict_spaces(Dreamer, channel_last)


@pytest.mark.parametrize("channel_last", [False, True])
def test_dict_vec_framestack(channel_last):
    load("test_dict_env").test_dict_vec_framestack(Dreamer, channel_last)


def test_dict_vec_normalize():
    load("test_dict_env").test_vec_normalize(Dreamer)


@pytest.mark.parametrize("obs", ["BOX_SPACE_FLOAT32", "BOX_SPACE_FLOAT64", "dict32", "dict64"])
@pytest.mark.parametrize("action", ["BOX_SPACE_FLOAT32", "BOX_SPACE_FLOAT64"])
def test_float64_action_space(obs, action):
    from gymnasium import spaces

    module = load("test_spaces")
    f32, f64 = module.BOX_SPACE_FLOAT32, module.BOX_SPACE_FLOAT64
    obs_space = {
        "BOX_SPACE_FLOAT32": f32,
        "BOX_SPACE_FLOAT64": f64,
        "dict32": spaces.Dict({"a": f32, "b": f32}),
        "dict64": spaces.Dict({"a": f32, "b": f64}),
    }[obs]
    module.test_float64_action_space(Dreamer, obs_space, getattr(module, action))


def test_deterministic_training():
    load("test_deterministic").test_deterministic_training_common(Dreamer)


def test_offpolicy_multi_env():
    load("test_run").test_offpolicy_multi_env(Dreamer)


class _UpperCaseLogName(Dreamer):
    """SB3's test expects the default ``tb_log_name`` to be the upper-cased key of its MODEL_DICT."""

    def learn(self, *args, tb_log_name: str = "DREAMER", **kwargs):
        return super().learn(*args, tb_log_name=tb_log_name, **kwargs)


def test_tensorboard(tmp_path, monkeypatch):
    module = load("test_tensorboard")
    monkeypatch.setitem(module.MODEL_DICT, "dreamer", (_UpperCaseLogName, "Pendulum-v1"))
    module.test_tensorboard(tmp_path, "dreamer")
