"""Plan2Explore: the ensemble's disagreement, the separation of the two behaviours, phases, save/load."""

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from torch import nn

from sb3_dreamer import Plan2Explore
from sb3_dreamer.plan2explore import OneStepEnsemble
from tests.envs import TINY, ActionRewardEnv


def test_disagreement_is_zero_when_members_agree_and_grows_with_their_spread():
    ensemble = OneStepEnsemble(input_dim=6, target_dim=4, size=5, hidden=[8], activation=nn.ELU)
    for member in ensemble.members[1:]:
        member.load_state_dict(ensemble.members[0].state_dict())
    features, actions = th.randn(7, 5), th.randn(7, 1)
    assert th.allclose(ensemble.disagreement(features, actions), th.zeros(7))

    spreads = []
    for scale in [0.1, 1.0, 3.0]:
        with th.no_grad():
            for k, member in enumerate(ensemble.members):
                member[-1].bias.copy_(ensemble.members[0][-1].bias.detach() * 0 + scale * (k - 2))
        spreads.append(ensemble.disagreement(features, actions))
    # biases -2s..2s: variance 2 s^2 in every dimension, on top of identical weights
    for disagreement, scale in zip(spreads, [0.1, 1.0, 3.0], strict=True):
        assert th.allclose(disagreement, th.full((7,), 2 * scale**2), rtol=1e-4)


def test_log_disagreement_rewards_ratios_not_scale():
    model = _model(exploration_steps=1000, log_disagreement=True, intrinsic_reward_scale=0.5)
    features = th.randn(4, 6, model.policy.world_model.rssm.feature_size, device=model.device)
    actions = th.rand(3, 6, 1, device=model.device) * 2 - 1
    disagreement = model.policy.ensemble.disagreement(features[:-1], actions)
    assert th.allclose(model._intrinsic_reward(features, actions), 0.5 * disagreement.log())
    with th.no_grad():  # all members' outputs scaled by 10: the variance by 100, the reward up by 0.5 log 100
        for member in model.policy.ensemble.members:
            member[-1].weight.mul_(10)
            member[-1].bias.mul_(10)
    assert th.allclose(model._intrinsic_reward(features, actions), 0.5 * (disagreement.log() + np.log(100)), atol=1e-4)


def _model(**kwargs):
    return Plan2Explore("MlpPolicy", ActionRewardEnv(length=7), seed=0, **{**TINY, **kwargs})


@pytest.mark.parametrize("target", ["embed", "stoch", "obs"])
def test_ensemble_gradients_do_not_reach_the_world_model(target):
    model = _model(exploration_steps=1000, policy_kwargs={**TINY["policy_kwargs"], "ensemble_target": target})
    model.learn(150)
    predicted = model.policy.ensemble.members[0][-1].out_features
    rssm = model.policy.world_model.rssm
    assert predicted == {"embed": model.policy.world_model.encoder.output_dim, "stoch": rssm.latent.size, "obs": 2}[target]
    batch = model.replay_buffer.sample(8, sequence_length=10)
    posterior, embed, _ = model._train_world_model(batch)
    world_model = model.policy.world_model
    world_model.zero_grad(set_to_none=True)
    metrics = model._train_ensemble(batch, posterior, embed)
    assert np.isfinite(metrics["ensemble_loss"].item())
    assert all(p.grad is None for p in world_model.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.policy.ensemble.parameters())


def test_task_reward_never_reaches_the_exploration_actor():
    model = _model(exploration_steps=1000)
    model.learn(150)
    calls = []
    handle = model.policy.world_model.reward_model.register_forward_hook(lambda *_: calls.append(1))
    start, weight = model.policy.world_model.rssm.initial_state(16, model.device), th.ones(16, device=model.device)
    behaviors = model.policy.behaviors()
    model._train_behavior(start, weight, behaviors["explore"], model._intrinsic_reward)
    assert not calls  # the exploration actor-critic never evaluates the reward model
    model._train_behavior(start, weight, behaviors["task"], model._task_reward)
    assert calls
    handle.remove()


def _collecting_actors(model, steps):
    """Which actor acted in collection (under no_grad) at each of the next ``steps`` policy steps."""
    used = []
    hooks = [
        getattr(model.policy, name).register_forward_hook(
            lambda *_, name=name: used.append(name) if not th.is_grad_enabled() else None
        )
        for name in ["actor", "explore_actor"]
    ]
    model.learn(steps, reset_num_timesteps=False)
    for hook in hooks:
        hook.remove()
    return used


def test_phases_survive_save_and_resume(tmp_path):
    env = make_vec_env(lambda: ActionRewardEnv(length=7), n_envs=1, seed=0)
    model = Plan2Explore("MlpPolicy", env, seed=0, exploration_steps=250, **TINY)
    model.learn(100)  # random steps, then the exploration actor from step 100
    assert set(_collecting_actors(model, 100)) == {"explore_actor"} and model.exploring
    model.save(tmp_path / "model")
    model.save_replay_buffer(tmp_path / "replay")

    loaded = Plan2Explore.load(tmp_path / "model", env=env)
    loaded.load_replay_buffer(tmp_path / "replay")
    assert loaded.exploring and loaded.exploration_steps == 250
    used = _collecting_actors(loaded, 100)  # steps 200..299: exploration until 250, then the task actor
    assert used[:50] == ["explore_actor"] * 50 and set(used[50:]) == {"actor"}
    assert not loaded.exploring and loaded.num_timesteps == 300
    assert loaded.logger.name_to_value["train/exploring"] < 1


def test_save_load_is_exact_for_both_behaviours_and_the_ensemble(tmp_path):
    model = _model(exploration_steps=150, target_update_interval=5).learn(250)
    model.save(tmp_path / "model")
    loaded = Plan2Explore.load(tmp_path / "model")
    original, restored = model.policy.state_dict(), loaded.policy.state_dict()
    assert original.keys() == restored.keys()
    assert any(k.startswith("ensemble.") for k in original) and any(k.startswith("explore_critic_target.") for k in original)
    assert all(th.equal(original[k], restored[k]) for k in original)
    for name in ["explore_actor_optimizer", "explore_critic_optimizer", "ensemble_optimizer"]:
        a, b = getattr(model.policy, name).state_dict(), getattr(loaded.policy, name).state_dict()
        assert a["state"].keys() == b["state"].keys() and a["state"]
        assert all(th.equal(a["state"][i]["exp_avg"], b["state"][i]["exp_avg"]) for i in a["state"])
    obs = np.random.default_rng(0).uniform(-1, 1, (3, 2)).astype(np.float32)
    for behavior in ["task", "explore"]:
        with model.policy.acting_as(behavior), loaded.policy.acting_as(behavior):
            expected, _ = model.predict(obs, deterministic=True)
            np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], expected)
    task, _ = model.predict(obs, deterministic=True)
    with model.policy.acting_as("explore"):
        explore, _ = model.predict(obs, deterministic=True)
    assert not np.array_equal(task, explore)  # two different actors
    with pytest.raises(ValueError, match="behaviour"):
        with model.policy.acting_as("dream"):
            pass


def test_logs_both_behaviours_and_the_ensemble():
    model = _model(exploration_steps=1000)
    model.learn(200)
    values = model.logger.name_to_value
    for key in ["ensemble_loss", "replay_disagreement", "explore_imagined_reward", "explore_actor_loss",
                "explore_critic_loss", "actor_loss", "critic_loss", "exploring"]:  # fmt: skip
        assert np.isfinite(values[f"train/{key}"]), key
    assert values["train/exploring"] == 1.0 and values["train/explore_imagined_reward"] >= 0


def test_on_the_dreamerv2_world_model():
    model = _model(exploration_steps=1000, world_model="dreamerv2")
    assert type(model.policy.world_model.rssm.latent).__name__ == "CategoricalLatent" and model.kl_balance == 0.8
    model.learn(150)
    assert model._n_updates > 0
    with pytest.raises(ValueError, match="world_model"):
        _model(world_model="dreamerv3")
