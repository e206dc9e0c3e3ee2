"""RL Baselines3 Zoo: our command line on a tiny configuration (train, enjoy, record_video, -optimize), the
hyperparameter files against the presets, and the message without the optional extra."""

import os
import subprocess
import sys

import pytest
import yaml
from gymnasium.envs.registration import registry
from torch import nn

from sb3_dreamer import presets

pytest.importorskip("rl_zoo3")

from sb3_dreamer.zoo import ALGOS, hyperparams_file

TINY_PARAMS = [
    "-params",
    "batch_size:8",
    "sequence_length:10",
    "learning_starts:50",
    "train_freq:2",
    "imagination_horizon:5",
    "policy_kwargs:dict(deterministic_size=16, stochastic_size=4, hidden_size=16, net_arch=[16])",
]
ENV = "DMC/cartpole-balance-proprio-v0"


def zoo(*args: str, cwd) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl"}
    result = subprocess.run(
        [sys.executable, "-m", "sb3_dreamer.zoo", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_train_enjoy_record_video(tmp_path):
    out = zoo("train", "--algo", "dreamer", "--env", ENV, "-n", "200", "-f", "logs", "--seed", "0", *TINY_PARAMS, cwd=tmp_path)
    assert f"Loading hyperparameters from: {hyperparams_file('dreamer')}" in out
    run = tmp_path / "logs" / "dreamer" / "DMC-cartpole-balance-proprio-v0_1"
    model_zip = run / "DMC-cartpole-balance-proprio-v0.zip"
    assert model_zip.is_file()
    config = yaml.load((run / "DMC-cartpole-balance-proprio-v0" / "config.yml").read_text(), Loader=yaml.UnsafeLoader)
    assert dict(config)["batch_size"] == 8 and dict(config)["policy"] == "MlpPolicy"  # -params over our file

    out = zoo("enjoy", "--algo", "dreamer", "--env", ENV, "-f", "logs", "-n", "510", "--no-render", cwd=tmp_path)
    assert f"Loading {model_zip.relative_to(tmp_path)}" in out
    assert "Episode Length 500" in out  # a whole DMC episode, acted by the loaded model

    zoo("record_video", "--algo", "dreamer", "--env", ENV, "-f", "logs", "-n", "20", "-o", "videos", cwd=tmp_path)
    (video,) = (tmp_path / "videos").glob("*.mp4")
    assert video.stat().st_size > 1000


def test_optimize(tmp_path):
    out = zoo(
        "train", "--algo", "dreamer", "--env", "Pendulum-v1", "-n", "120", "-f", "logs", "-optimize", "--n-trials", "2",
        "--n-evaluations", "1", "--eval-episodes", "1", "--sampler", "random", "--pruner", "none", *TINY_PARAMS,
        cwd=tmp_path,
    )  # fmt: skip
    assert "Number of finished trials:  2" in out
    assert "imagination_horizon" in out.split("Best trial:")[1]  # our sampler's parameters


def test_without_rl_zoo3():
    code = "import sys; sys.modules['rl_zoo3'] = None; from sb3_dreamer.zoo.__main__ import main; main(['train'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "pip install 'sb3-dreamer[zoo]'" in result.stderr


def _group(algo: str, name: str) -> dict:
    params = dict(yaml.safe_load(hyperparams_file(algo).read_text())[name])
    del params["n_timesteps"], params["policy"]
    if "policy_kwargs" in params:  # a string, as the Zoo evaluates it
        params["policy_kwargs"] = eval(params["policy_kwargs"], {"nn": nn})
    return params


@pytest.mark.parametrize(
    "algo, group, preset",
    [
        ("dreamer", "_vector", presets.SMALL_VECTOR),
        ("dreamerv2", "_vector", presets.DREAMERV2_SMALL_VECTOR),
        ("dreamerv2", "_dmc_pixels", presets.DREAMERV2_DMC),
        ("dreamerv2", "_dmc_proprio", presets.DREAMERV2_DMC),
        ("dreamerv2", "_minatar", presets.DREAMERV2_MINATAR),
        ("plan2explore", "_vector", {**presets.SMALL_VECTOR, "exploration_steps": 10_000}),
        ("dreamerv3", "_vector", presets.DREAMERV3_SMALL_VECTOR),
        ("dreamerv3", "_vector_continuous", presets.DREAMERV3_SMALL_CONTINUOUS),
        ("dreamerv3", "_dmc_pixels", presets.DREAMERV3_DMC),
        ("dreamerv3", "_dmc_proprio", presets.DREAMERV3_DMC),
        ("dreamerv3", "_dmc_both", presets.DREAMERV3_DMC),
        ("dreamerv3", "_minatar", presets.DREAMERV3_MINATAR),
    ],
)
def test_hyperparams_match_presets(algo, group, preset):
    assert _group(algo, group) == preset


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_hyperparams_cover_our_envs(algo):
    entries = yaml.safe_load(hyperparams_file(algo).read_text())
    ours = [env_id for env_id in registry if env_id.startswith(("DMC/", "POMDP/")) or "-image" in env_id]
    assert len(ours) > 100
    assert [env_id for env_id in ours if env_id not in entries] == []
    for env_id in ours:
        pixels = "-pixels-" in env_id or env_id.startswith("MinAtar/")
        expected = "CnnPolicy" if pixels else "MultiInputPolicy" if "-both-" in env_id else "MlpPolicy"
        assert entries[env_id]["policy"] == expected, env_id


def test_dreamerv3_sampler_changes_only_size_and_train_ratio():
    import optuna

    from sb3_dreamer import DreamerV3
    from sb3_dreamer.zoo import SAMPLERS, sample_dreamerv3_params

    trial = optuna.trial.FixedTrial({"size": "XXS", "train_ratio": 64})
    params = sample_dreamerv3_params(trial, n_actions=1, n_envs=1, additional_args={})
    assert params == {"size": "XXS", "train_ratio": 64}
    assert SAMPLERS["dreamerv3"][1](params) == params
    model = DreamerV3("MlpPolicy", "Pendulum-v1", **params)
    assert model.train_ratio == 64 and model.policy.deterministic_size == 128
