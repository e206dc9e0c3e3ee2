"""DreamerV3: its components pinned to the paper (arXiv 2301.04104v1) and the algorithm on the one training loop."""

import copy
import math
import os

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from torch import nn

from sb3_dreamer import DreamerV3, RunCheckpointCallback
from sb3_dreamer.common import checkpoints
from sb3_dreamer.common.distributions import OneHotCategoricalStraightThrough
from sb3_dreamer.common.likelihoods import SquaredError, TwoHot, UnitNormal
from sb3_dreamer.common.losses import kl_loss
from sb3_dreamer.common.networks import ChannelNorm, NormGRUCell, ValueHead, mlp
from sb3_dreamer.common.normalizers import PercentileReturnNormalizer
from sb3_dreamer.common.returns import replay_lambda_returns
from sb3_dreamer.common.rssm import CategoricalLatent
from sb3_dreamer.common.transforms import symexp, symlog, symlog_grid, two_hot, unimix_logits
from sb3_dreamer.dreamer import dreamer as dreamer_module
from sb3_dreamer.dreamer_v3.policies import SIZES, size_policy_kwargs
from tests.envs import TINY, ActionRewardEnv
from tests.test_dreamer import _events, _ImageEnv, _rollout
from tests.test_long_runs import StopAt, assert_same_parameters, parameters

# ------------------------------------------------------------------ symlog, two-hot, unimix


def test_symlog_symexp_are_inverse_and_odd():
    x = th.tensor([-1e6, -100.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 100.0, 1e6], dtype=th.float64)
    assert th.allclose(symexp(symlog(x)), x, rtol=1e-12)
    assert th.allclose(symlog(symexp(x[2:-2])), x[2:-2], rtol=1e-12)
    assert th.equal(symlog(-x), -symlog(x))
    assert th.allclose(symlog(x), th.sign(x) * th.log(x.abs() + 1))  # Eq. 1
    assert symlog(th.tensor(math.e - 1)).item() == pytest.approx(1.0)
    # close to the identity around zero: slope 1 at 0
    assert th.allclose(symlog(th.tensor([1e-4])), th.tensor([1e-4]), rtol=1e-3)


def test_symlog_grid_is_even_symmetric_and_exponential_after_symexp():
    grid = symlog_grid()
    assert grid.shape == (255,) and grid[0] == -20 and grid[-1] == 20 and grid[127] == 0
    assert th.equal(grid, -grid.flip(0))
    assert th.allclose(grid.diff(), th.full((254,), 40 / 254), atol=1e-5)
    bins = symexp(grid.double())
    assert bins[-1].item() == pytest.approx(math.exp(20) - 1)  # 4.85e8
    assert (bins.diff() > 0).all() and bins.diff()[127:].diff().gt(0).all()  # spacing grows away from 0


def test_two_hot_between_at_and_outside_bins():
    grid = th.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
    x = th.tensor([0.25, 1.0, -1.5, 7.0, -9.0, 2.0, -2.0])
    enc = two_hot(x, grid)
    expected = th.tensor(
        [
            [0, 0, 0.75, 0.25, 0],  # between: weights inversely proportional to the distances
            [0, 0, 0, 1, 0],  # on a bin: one-hot
            [0.5, 0.5, 0, 0, 0],
            [0, 0, 0, 0, 1],  # beyond the last bin: clipped to it
            [1, 0, 0, 0, 0],
            [0, 0, 0, 0, 1],  # the outer bins themselves
            [1, 0, 0, 0, 0],
        ]
    )
    assert th.allclose(enc, expected)
    assert th.allclose(enc.sum(-1), th.ones(len(x)))
    inside = x.clamp(-2, 2)
    assert th.allclose(enc @ grid, inside)  # the encoding's mean is the (clipped) value
    assert two_hot(th.zeros(3, 4), grid).shape == (3, 4, 5)


def test_two_hot_distribution_log_prob_and_mean():
    grid = symlog_grid()
    y = th.tensor([0.0, 0.5, -3.0, 250.0, 1e4])
    # log_prob is the cross-entropy with the two-hot encoding of symlog(y)
    logits = th.randn(5, 255, requires_grad=True)
    dist = TwoHot(logits, grid)
    target = two_hot(symlog(y), grid)
    assert th.allclose(dist.log_prob(y), (target * th.log_softmax(logits, -1)).sum(-1))
    # maximising it on each target makes the mean that target: two-hot regression recovers values of any scale
    logits = th.zeros(5, 255, requires_grad=True)
    optimizer = th.optim.Adam([logits], lr=0.5)
    for _ in range(300):
        optimizer.zero_grad()
        (-TwoHot(logits, grid).log_prob(y).sum()).backward()
        optimizer.step()
    assert th.allclose(TwoHot(logits, grid).mean, y, rtol=1e-2, atol=1e-2)
    # the mean of a two-hot distribution is symexp of the expected grid point
    probs = two_hot(symlog(y), grid)
    assert th.allclose(TwoHot(probs.clamp(min=1e-30).log(), grid).mean, y, rtol=1e-4, atol=1e-5)


def test_two_hot_uniform_predicts_exactly_zero():
    """A zero-initialised output layer gives uniform probabilities; the symmetric sum makes their mean exactly 0,
    where a plain sum over bins up to symexp(20) would not be."""
    dist = TwoHot(th.zeros(7, 255), symlog_grid())
    assert th.equal(dist.mean, th.zeros(7))
    naive = (dist.probs * symexp(symlog_grid())).sum(-1)
    assert naive.abs().max() > 1e-3  # the paper's formula in float32


@pytest.mark.parametrize("norm", [None, "layer", "rms"])
def test_zero_initialised_heads_predict_zero(norm):
    head = ValueHead(12, [16, 16], nn.SiLU, norm=norm, bins=255)
    features = 10 * th.randn(4, 6, 12)
    assert th.equal(head(features), th.zeros(4, 6))
    assert th.equal(head.net[-1].weight, th.zeros(255, 16)) and th.equal(head.net[-1].bias, th.zeros(255))
    assert "grid" not in head.state_dict()  # a constant, not saved
    # after one step on a target the prediction moves towards it
    optimizer = th.optim.Adam(head.parameters(), lr=1e-2)
    (-head.dist(features).log_prob(th.full((4, 6), 5.0)).mean()).backward()
    optimizer.step()
    assert head(features).mean() > 0


def test_gaussian_value_head_is_v1():
    head = ValueHead(3, [8], nn.ELU)
    dist = head.dist(th.randn(5, 3))
    assert isinstance(dist, UnitNormal) and dist.mean.shape == (5,)
    value = th.randn(5)
    expected = th.distributions.Normal(dist.mean, 1.0).log_prob(value)
    assert th.allclose(dist.log_prob(value), expected, atol=1e-6)


def test_squared_error_in_symlog_space():
    prediction = th.tensor([[0.0, 1.0], [2.0, -1.0]])
    target = th.tensor([[0.0, math.e - 1], [10.0, 3.0]])
    dist = SquaredError(prediction, 1, symlog=True)
    assert th.allclose(dist.mean, symexp(prediction))
    expected = -((prediction - symlog(target)) ** 2).sum(-1)
    assert th.allclose(dist.log_prob(target), expected)
    assert dist.log_prob(target)[0].item() == pytest.approx(0.0, abs=1e-6)
    images = SquaredError(th.zeros(2, 3, 4, 4), 3)
    assert th.allclose(images.log_prob(th.ones(2, 3, 4, 4)), th.full((2,), -48.0))  # no 1/2, no constant


def test_unimix_probabilities():
    logits = th.tensor([[50.0] + [-50.0] * 31, [0.0] * 32])
    probs = unimix_logits(logits, 0.01).softmax(-1)
    assert probs.min() >= 0.01 / 32 * (1 - 1e-5)
    assert th.allclose(probs.sum(-1), th.ones(2))
    assert probs[0, 0].item() == pytest.approx(0.99 + 0.01 / 32)
    assert th.allclose(probs[1], th.full((32,), 1 / 32))  # uniform stays uniform
    assert th.equal(unimix_logits(logits, 0.0), logits)
    # the latent applies it to prior and posterior alike: KL stays finite against a saturated posterior
    latent = CategoricalLatent(2, 32, unimix=0.01)
    params = th.cat([logits[:1], logits[:1]], -1)
    dist = latent.dist(params)
    assert dist.base_dist.probs.min() >= 0.01 / 32 * (1 - 1e-5)
    other = latent.dist(-params)
    assert th.isfinite(th.distributions.kl_divergence(dist, other)).all()


# ------------------------------------------------------------------ KL terms


def _kl_terms(post, prior, latent, free=1.0):
    return kl_loss(post, prior, latent, free, balance=0.5 / 0.6, free_nats_per_step=True)


def test_dynamics_and_representation_losses():
    """0.5 max(1, KL(sg(q) || p)) + 0.1 max(1, KL(q || sg(p))) (Eqs. 5-6): the prior gets 0.5 of the KL's
    gradient, the posterior 0.1, each through its own term only."""
    th.manual_seed(0)
    latent = CategoricalLatent(4, 5)
    post = 3 * th.randn(6, 7, latent.param_size)
    prior = 3 * th.randn(6, 7, latent.param_size)
    post.requires_grad_(True)
    prior.requires_grad_(True)
    kl_steps = th.distributions.kl_divergence(latent.dist(post), latent.dist(prior))
    assert (kl_steps > 1).all()  # no clipping here
    loss, kl = _kl_terms(post, prior, latent)
    loss = 0.6 * loss  # kl_scale
    assert th.isclose(loss, 0.6 * kl_steps.mean()) and th.isclose(kl, kl_steps.mean())
    grad_post, grad_prior = th.autograd.grad(kl_steps.mean(), [post, prior])
    ours_post, ours_prior = th.autograd.grad(loss, [post, prior])
    assert th.allclose(ours_prior, 0.5 * grad_prior, atol=1e-6)
    assert th.allclose(ours_post, 0.1 * grad_post, atol=1e-6)


def test_free_bits_clip_each_step_after_summing_over_latents():
    """Free bits of 1 nat apply per time step to the KL summed over the 32 variables (the authors' code), not
    to the mean KL: steps below 1 nat contribute a constant and no gradient, the others their KL."""
    latent = CategoricalLatent(3, 4)
    prior = th.zeros(2, latent.param_size, requires_grad=True)
    post = th.zeros(2, latent.param_size)
    post[0, ::4] = 0.5  # step 0 near the uniform prior (KL below 1 nat), step 1 far from it
    post[1, ::4] = 4.0
    post.requires_grad_(True)
    kl_steps = th.distributions.kl_divergence(latent.dist(post), latent.dist(prior))
    assert 0 < kl_steps[0] < 0.2 and kl_steps[1] > 1.5  # summed over the 3 variables
    loss, _ = _kl_terms(post, prior, latent)
    assert th.isclose(loss, (1.0 + kl_steps[1]) / 2)
    grad_post, grad_prior = th.autograd.grad(loss, [post, prior])
    assert th.equal(grad_post[0], th.zeros(latent.param_size)) and th.equal(grad_prior[0], th.zeros(latent.param_size))
    assert grad_post[1].abs().sum() > 0 and grad_prior[1].abs().sum() > 0
    # clipping the mean instead (V1, V2): the mean KL is above 1 nat, so both steps would get gradients
    mean_clip, _ = kl_loss(post, prior, latent, 1.0, balance=0.5 / 0.6)
    assert th.autograd.grad(mean_clip, prior)[0][0].abs().sum() > 0


# ------------------------------------------------------------------ return normalisation


def test_percentile_return_normalizer():
    normalizer = PercentileReturnNormalizer()
    assert normalizer.scale.item() == 1.0  # max(1, 0 - 0)
    returns = th.arange(101, dtype=th.float32).reshape(1, 101) * 10  # percentiles 5 and 95: 50 and 950
    normalizer.update(returns)
    assert normalizer.low.item() == pytest.approx(0.01 * 50) and normalizer.high.item() == pytest.approx(0.01 * 950)
    assert normalizer.scale.item() == pytest.approx(9.0)  # the EMA starts at 0, without bias correction
    for _ in range(2000):
        normalizer.update(returns)
    assert normalizer.low.item() == pytest.approx(50, rel=1e-4) and normalizer.high.item() == pytest.approx(950, rel=1e-4)
    assert normalizer.scale.item() == pytest.approx(900, rel=1e-4)
    # one step of the EMA with decay 0.99
    low, high = normalizer.low.clone(), normalizer.high.clone()
    normalizer.update(th.zeros(3, 5))
    assert th.isclose(normalizer.low, 0.99 * low) and th.isclose(normalizer.high, 0.99 * high)
    assert set(normalizer.state_dict()) == {"low", "high"}  # saved with the model
    small = PercentileReturnNormalizer()
    for _ in range(1000):
        small.update(0.01 * th.randn(100))
    assert small.scale.item() == 1.0  # small returns: divided by 1, not amplified


# ------------------------------------------------------------------ networks


def test_normalised_networks():
    net = mlp(5, [8, 8], 3, nn.SiLU, norm="layer", symlog_inputs=True)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert [m.bias is None for m in linears] == [True, True, False]  # the norm replaces the hidden biases
    assert sum(isinstance(m, nn.LayerNorm) for m in net) == 2 and sum(isinstance(m, nn.SiLU) for m in net) == 2
    x = th.tensor([[1e4, -1e4, 0.0, 1.0, 2.0]])
    assert th.allclose(net(x), net[1:](symlog(x)))
    assert any(isinstance(m, nn.RMSNorm) for m in mlp(5, [8], None, nn.SiLU, norm="rms"))
    with pytest.raises(ValueError, match="norm"):
        mlp(5, [8], None, nn.SiLU, norm="batch")
    image = th.randn(2, 6, 5, 5).contiguous(memory_format=th.channels_last)
    out = ChannelNorm("layer", 6)(image)
    assert th.allclose(out.mean(1), th.zeros(2, 5, 5), atol=1e-5)
    assert th.allclose(out.var(1, unbiased=False), th.ones(2, 5, 5), atol=0.03)  # eps 1e-3


def test_norm_gru_cell():
    th.manual_seed(0)
    cell = NormGRUCell(3, 4, "layer")
    x, h = th.randn(5, 3), th.randn(5, 4)
    parts = cell.norm(cell.linear(th.cat([h, x], -1)))
    reset, candidate, update = parts.chunk(3, -1)
    update = th.sigmoid(update - 1)
    expected = update * th.tanh(th.sigmoid(reset) * candidate) + (1 - update) * h
    assert th.allclose(cell(x, h), expected)
    assert cell.linear.bias is None
    # at initialisation the update gate is mostly closed: sigma(-1) = 0.27 on average
    assert update.mean().item() == pytest.approx(1 / (1 + np.e), abs=0.1)


# ------------------------------------------------------------------ the algorithm


def test_defaults_are_the_papers():
    """The 2023 paper's hyperparameters (Appendix B) and components, at size S."""
    model = DreamerV3("MlpPolicy", ActionRewardEnv(discrete=True))
    policy = model.policy
    assert (model.batch_size, model.sequence_length) == (16, 64)
    assert model.train_ratio == 512
    assert (model.gamma, model.td_lambda, model.imagination_horizon) == (0.997, 0.95, 15)
    assert (model.learning_rate, model.actor_learning_rate, model.critic_learning_rate) == (1e-4, 3e-5, 3e-5)
    assert policy.optimizer.defaults["eps"] == 1e-8
    assert policy.actor_optimizer.defaults["eps"] == policy.critic_optimizer.defaults["eps"] == 1e-5
    # each optimizer at its own rate from the start, not only once train() has run (the policy builds them at 1e-4)
    assert policy.optimizer.param_groups[0]["lr"] == 1e-4
    assert policy.actor_optimizer.param_groups[0]["lr"] == policy.critic_optimizer.param_groups[0]["lr"] == 3e-5
    assert (model.model_max_grad_norm, model.max_grad_norm) == (1000, 100)
    assert (model.free_nats, model.free_nats_per_step) == (1.0, True)
    assert model.kl_scale * model.kl_balance == pytest.approx(0.5)  # beta_dyn
    assert model.kl_scale * (1 - model.kl_balance) == pytest.approx(0.1)  # beta_rep
    assert model.continue_scale == 1.0 and policy.world_model.continue_model is not None
    assert model.imagined_continue == "probability"  # the 2023 code's cont.mode() is the option "mode"
    assert model.actor_entropy_coef == 3e-4 and model.exploration_noise == 0
    assert model.reinforce_mix == 1.0  # REINFORCE for discrete actions
    assert DreamerV3("MlpPolicy", "Pendulum-v1").reinforce_mix == 0.0  # backpropagation for continuous ones
    assert DreamerV3("MlpPolicy", "Pendulum-v1").policy.actor.std_bounds == (0.1, 1.0)  # the code's Normal actor
    assert (model.target_update_interval, model.tau, model.target_critic_regularizer) == (1, 0.02, 1.0)
    latent = policy.world_model.rssm.latent
    assert (latent.variables, latent.classes, latent.unimix) == (32, 32, 0.01)
    assert policy.actor.unimix == 0.01
    assert policy.world_model.reward_model.bins == policy.critic.bins == 255
    assert isinstance(policy.critic.return_normalizer, PercentileReturnNormalizer)
    assert policy.world_model.decoder.observation_loss == "symlog_mse"
    assert policy.deterministic_size == 512 and policy.arch["actor"] == [512, 512]


@pytest.mark.parametrize("imagined_continue", ["mode", "probability"])
def test_imagined_steps_are_discounted_by_the_continue_mode(imagined_continue):
    """``imagined_continue="mode"`` discounts imagined step k by gamma times the ContinueModel's mode, as the 2023
    code does (``cont.mode()``): where it predicts 0.8 that the episode goes on, the weights of the imagined steps
    are gamma^k with the mode and (0.8 gamma)^k with the probability (the default; Dreamer V1, V2 and the 2025
    code), and a prediction of 0.3 ends the trajectory with the mode."""
    model = DreamerV3("MlpPolicy", ActionRewardEnv(discrete=True), seed=0, imagined_continue=imagined_continue, **TINY)
    head = model.policy.world_model.continue_model.net[-1]
    start, start_weight = model.policy.world_model.rssm.initial_state(4, model.device), th.ones(4, device=model.device)
    behavior = model.policy.behaviors()["task"]
    steps = th.arange(model.imagination_horizon + 1, dtype=th.float32, device=model.device)
    for probability in (0.8, 0.3):
        with th.no_grad():
            head.weight.zero_()
            head.bias.fill_(math.log(probability / (1 - probability)))
        imagined = model._actor_backward(start, start_weight, behavior, model._task_reward, 1.0)
        goes_on = float(probability > 0.5) if imagined_continue == "mode" else probability
        expected = (model.gamma * goes_on) ** steps[:-1]  # step 0 has its start state's weight
        th.testing.assert_close(imagined.weights, expected.unsqueeze(1).expand(-1, 4))
    with pytest.raises(ValueError, match="imagined_continue"):
        DreamerV3("MlpPolicy", ActionRewardEnv(discrete=True), imagined_continue="mean")


def test_continuous_actor_is_a_bounded_normal():
    """Box actions (the authors' code, ``dist: normal``): a Normal with mean tanh(mu) and a std in [0.1, 1] at any
    network output, exact entropy and log-probabilities, reparameterised unbounded samples that the env gets
    clipped, and tanh(mu) as the deterministic action."""
    from sb3_dreamer.common.policies import Actor

    th.manual_seed(0)
    actor = Actor(8, spaces.Box(-2.0, 2.0, (3,)), [16], nn.SiLU, std_bounds=(0.1, 1.0))
    features = 50.0 * th.randn(64, 8)  # saturating outputs too
    dist = actor(features)
    mean, std = dist.base_dist.loc, dist.base_dist.scale
    assert (std >= 0.1).all() and (std <= 1.0).all() and (mean.abs() <= 1).all()
    raw_mean, raw_std = actor.net(features).chunk(2, -1)
    th.testing.assert_close(mean, th.tanh(raw_mean))
    th.testing.assert_close(std, 0.9 * th.sigmoid(raw_std + 2.0) + 0.1)
    action, sample = actor.rsample(dist)
    assert action is sample and action.requires_grad and (action.abs() > 1).any()  # unbounded samples
    normal = th.distributions.Normal(mean, std)
    th.testing.assert_close(actor.log_prob(dist, action), normal.log_prob(action).sum(-1))
    th.testing.assert_close(actor.entropy(dist, action), normal.entropy().sum(-1))
    assert th.equal(actor.mode(dist), th.tanh(raw_mean))
    model = DreamerV3("MlpPolicy", "Pendulum-v1", size="XXS", seed=0)
    env_action = model.policy.to_env_action(np.array([[3.0], [-0.5]], dtype=np.float32))
    np.testing.assert_allclose(env_action, [[2.0], [-1.0]])  # clipped to the bounds, then scaled
    with pytest.raises(ValueError, match="std_bounds"):
        Actor(8, spaces.Box(-1.0, 1.0, (3,)), [16], nn.SiLU, std_bounds=(1.0, 0.1))


def test_size_table():
    """Table B.1: GRU units, dense units and layers, CNN multiplier; all with 32 x 32 latents."""
    table = {"XS": (256, 256, 1, 24), "S": (512, 512, 2, 32), "M": (1024, 640, 3, 48), "L": (2048, 768, 4, 64)}
    table["XL"] = (4096, 1024, 5, 96)
    for size, (deter, units, layers, depth) in table.items():
        kwargs = size_policy_kwargs(size)
        assert kwargs == dict(
            deterministic_size=deter,
            hidden_size=units,
            net_arch=[units] * layers,
            cnn_depth=depth,
            stochastic_size=32,
            latent_classes=32,
        )
    assert list(SIZES) == ["XXS", *table]  # and our CPU size
    model = DreamerV3("CnnPolicy", _ImageEnv(64), size="M")
    policy = model.policy
    assert policy.world_model.rssm.deter_size == 1024 and policy.hidden_size == 640
    assert policy.arch["critic"] == [640] * 3 and policy.world_model.encoder.encoders["observation"].depth == 48
    assert policy.world_model.rssm.latent.size == 32 * 32
    # policy_kwargs win over the size
    small = DreamerV3("MlpPolicy", "Pendulum-v1", size="XS", policy_kwargs=dict(hidden_size=100))
    assert small.policy.hidden_size == 100 and small.policy.deterministic_size == 256
    with pytest.raises(ValueError, match="size"):
        DreamerV3("MlpPolicy", "Pendulum-v1", size="XXXL")


@pytest.mark.parametrize(("size", "millions"), [("XS", 8), ("S", 18)])
def test_parameter_counts_are_the_papers(size, millions):
    """Table B.1's parameter counts (8M, 18M, 37M, 77M, 200M) for Atari's 64 x 64 x 3 images and 18 actions, the
    slow critic aside: ours are within 5% (8.3M and 17.9M; M and L, slower to build: 36.9M and 76.8M)."""
    model = DreamerV3("CnnPolicy", _AtariLikeEnv(), size=size, buffer_size=100)
    count = sum(p.numel() for p in model.policy.parameters()) - sum(p.numel() for p in model.policy.critic_target.parameters())
    assert count == pytest.approx(millions * 1e6, rel=0.05)


class _AtariLikeEnv(_ImageEnv):
    def __init__(self):
        super().__init__(64)
        self.action_space = spaces.Discrete(18)


def test_every_layer_is_normalised_with_silu():
    """LayerNorm and SiLU after every hidden layer of every MLP, the CNN, the decoder and the GRU; the GRU is
    the normalised one."""
    model = DreamerV3("MultiInputPolicy", _ImageAndVectorEnv(), **TINY)
    policy = model.policy
    assert isinstance(policy.world_model.rssm.recurrent_model.gru, NormGRUCell)
    for name, module in policy.named_modules():
        if isinstance(module, nn.Sequential):
            layers = list(module)
            for i, layer in enumerate(layers):
                if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) and i + 1 < len(layers):
                    following = layers[i + 1 : i + 3]
                    if isinstance(following[0], (nn.Flatten, nn.Unflatten)):
                        continue  # a projection into the decoder's first map
                    assert isinstance(following[0], (nn.LayerNorm, ChannelNorm)), (name, i)
                    assert isinstance(following[1], nn.SiLU), (name, i)
                    assert layer.bias is None, (name, i)


class _ImageAndVectorEnv(ActionRewardEnv):
    def __init__(self):
        super().__init__(discrete=True)
        self.observation_space = spaces.Dict(
            {"image": spaces.Box(0, 255, (16, 16, 3), np.uint8), "state": spaces.Box(-1e3, 1e3, (3,), np.float32)}
        )

    def _obs(self):
        return {
            "image": self.np_random.integers(0, 256, (16, 16, 3), dtype=np.uint8),
            "state": 100 * super()._obs()[:1].repeat(3),
        }


def test_heads_predict_zero_at_initialisation():
    model = DreamerV3("MlpPolicy", ActionRewardEnv(), **TINY)
    features = 5 * th.randn(7, model.policy.world_model.rssm.feature_size, device=model.device)
    assert th.equal(model.policy.world_model.reward_model(features), th.zeros(7, device=model.device))
    assert th.equal(model.policy.critic(features), th.zeros(7, device=model.device))


@pytest.mark.parametrize(("policy", "discrete"), [("MlpPolicy", False), ("CnnPolicy", True), ("MultiInputPolicy", True)])
def test_trains_on_vectors_and_pixels(policy, discrete):
    env = {"MlpPolicy": ActionRewardEnv(discrete), "CnnPolicy": _DiscreteImageEnv(), "MultiInputPolicy": _ImageAndVectorEnv()}
    model = DreamerV3(policy, env[policy], seed=0, **TINY).learn(130)
    assert model._n_updates > 0
    values = model.logger.name_to_value
    for key in ["reconstruction_loss", "reward_loss", "kl", "continue_loss", "actor_loss", "critic_loss"]:
        assert np.isfinite(values[f"train/{key}"]), key
    normalizer = model.policy.critic.return_normalizer
    assert normalizer.high >= normalizer.low and normalizer.high != 0  # updated from the imagined returns


class _DiscreteImageEnv(_ImageEnv):
    def __init__(self):
        super().__init__(16)
        self.action_space = spaces.Discrete(3)


def _record_critic_losses(monkeypatch, critic: nn.Module) -> list[tuple[th.Tensor, list[th.Tensor]]]:
    """Record each call of ``critic.dist``: the features, and the values its ``log_prob`` is then asked for."""
    calls = []
    dist = type(critic).dist

    def recording(self, features):
        out = dist(self, features)
        if self is critic:
            values, log_prob = [], out.log_prob
            calls.append((features.detach(), values))
            out.log_prob = lambda value: values.append(value.detach()) or log_prob(value)
        return out

    monkeypatch.setattr(type(critic), "dist", recording)
    return calls


def test_slow_critic_is_an_ema_and_regularises_the_critic(monkeypatch):
    """After each update the slow critic moves 2% of the way to the critic (rate 0.02), and the critic's loss
    has the term -ln p(v_slow(s)) next to -ln p(V^lambda)."""
    model = DreamerV3("MlpPolicy", ActionRewardEnv(length=7), seed=0, **TINY).learn(110)
    critic, slow = model.policy.critic, model.policy.critic_target
    assert all(not p.requires_grad for p in slow.parameters())
    calls = _record_critic_losses(monkeypatch, critic)
    slow_before = copy.deepcopy(slow)
    model.train(gradient_steps=1, batch_size=8)
    for old, new_slow, new_critic in zip(slow_before.parameters(), slow.parameters(), critic.parameters(), strict=True):
        assert th.allclose(new_slow, 0.98 * old + 0.02 * new_critic, atol=1e-6)
    ((features, (returns, regularised)),) = [call for call in calls if call[1]]  # the critic loss
    with th.no_grad():
        assert th.allclose(regularised, slow_before(features), atol=1e-6)
    assert not th.allclose(regularised, returns)
    with pytest.raises(ValueError, match="tau"):
        DreamerV3("MlpPolicy", ActionRewardEnv(), tau=0.0, **TINY)


def test_replay_critic_loss(monkeypatch):
    """With ``replay_critic_scale`` the critic also regresses lambda-returns of the replayed sequences, bootstrapped
    from the imagined return of each replayed state (the 2025 version's replayed-value loss)."""
    model = DreamerV3("MlpPolicy", ActionRewardEnv(length=7), seed=0, replay_critic_scale=0.3, **TINY).learn(110)
    critic = model.policy.critic
    calls, replayed = _record_critic_losses(monkeypatch, critic), []

    def recording_returns(rewards, boot, is_first, is_terminal, gamma, lambda_):
        out = replay_lambda_returns(rewards, boot, is_first, is_terminal, gamma, lambda_)
        replayed.append((boot, out[0]))
        return out

    monkeypatch.setattr(dreamer_module, "replay_lambda_returns", recording_returns)
    model.train(gradient_steps=1, batch_size=8)
    (imagined_features, (imagined, _)), (replay_features, (returns, regularised)) = [call for call in calls if call[1]]
    ((boot, expected),) = replayed
    L = model.sequence_length
    assert boot.shape == (8, L) and th.equal(boot, imagined[0].reshape(8, L))  # R^lambda of s_0 from each replayed state
    assert th.equal(returns, expected) and returns.shape == (8, L - 1)
    assert th.equal(replay_features, imagined_features[0].reshape(8, L, -1)[:, :-1])  # the posterior states
    assert not th.allclose(regularised, returns)  # the slow-critic regulariser, as in imagination
    assert np.isfinite(model.logger.name_to_value["train/replay_critic_loss"])
    with pytest.raises(ValueError, match="imagination_starts"):
        DreamerV3("MlpPolicy", ActionRewardEnv(), replay_critic_scale=0.3, imagination_starts=8, **TINY)
    with pytest.raises(ValueError, match="replay_critic_scale"):
        DreamerV3("MlpPolicy", ActionRewardEnv(), replay_critic_scale=-1.0, **TINY)


@pytest.mark.parametrize("policy", ["MlpPolicy", "CnnPolicy"])
def test_save_load_exact_recurrent_rollouts_two_envs(tmp_path, policy):
    make = (lambda: ActionRewardEnv(discrete=True, length=7)) if policy == "MlpPolicy" else (lambda: _ImageEnv(16))
    env = make_vec_env(make, n_envs=2, seed=0)
    model = DreamerV3(policy, env, seed=0, **TINY).learn(120)
    model.save(tmp_path / "model")
    loaded = DreamerV3.load(tmp_path / "model", env=env)
    for key, value in model.policy.state_dict().items():  # the slow critic and the return normaliser included
        assert th.equal(value, loaded.policy.state_dict()[key]), key
    assert loaded.policy.critic.return_normalizer.high != 0
    for deterministic in [True, False]:
        env.seed(1)
        a1, s1 = _rollout(model, env, deterministic=deterministic)
        env.seed(1)
        a2, s2 = _rollout(loaded, env, deterministic=deterministic)
        assert np.array_equal(a1, a2)
        assert all(np.array_equal(x, y) for x, y in zip(s1, s2, strict=True))


def test_resume_equals_the_uninterrupted_run(tmp_path):
    kwargs = dict(TINY, seed=3)
    uninterrupted = DreamerV3("MlpPolicy", "Pendulum-v1", **kwargs).learn(300)
    interrupted = DreamerV3("MlpPolicy", "Pendulum-v1", **kwargs)
    interrupted.learn(300, callback=[RunCheckpointCallback(200, str(tmp_path)), StopAt(250)])
    for folder in checkpoints.checkpoints(str(tmp_path))[1:]:  # resume from step 200
        os.rename(folder, folder.replace(checkpoints.PREFIX, "old_"))
    resumed = DreamerV3.resume(str(tmp_path))
    assert resumed.num_timesteps == 300 and resumed._n_updates == uninterrupted._n_updates
    assert_same_parameters(parameters(resumed), parameters(uninterrupted))


def test_predict_state_and_episode_start():
    model = DreamerV3("MlpPolicy", "Pendulum-v1", seed=0, **TINY)
    obs = np.random.default_rng(0).uniform(-1, 1, (3, 3)).astype(np.float32)
    action, state = model.predict(obs, deterministic=True)
    assert action.shape == (3, 1) and model.action_space.contains(action[0])
    assert [s.shape for s in state] == [(3, 16), (3, 4 * 32), (3, 1)]
    assert set(np.unique(state[1])) == {0.0, 1.0}  # DreamerV3 acts on the latent's modes (deterministic_latent)
    kwargs = {**TINY, "policy_kwargs": {**TINY["policy_kwargs"], "deterministic_latent": "mean"}}
    mean = DreamerV3("MlpPolicy", "Pendulum-v1", seed=0, **kwargs)
    assert not set(np.unique(mean.predict(obs, deterministic=True)[1][1])) <= {0.0, 1.0}
    fresh, fresh_state = model.predict(obs, deterministic=True)
    cont, cont_state = model.predict(obs, state=state, episode_start=np.array([False, True, False]), deterministic=True)
    assert np.allclose(cont_state[0][1], fresh_state[0][1]) and np.allclose(cont[1], fresh[1])
    assert not np.allclose(cont_state[0][0], fresh_state[0][0])
    assert model._collect_state is None


def test_bf16_mixed_precision():
    """precision="bf16-mixed" works for DreamerV3's components: hidden layers' products in bf16, heads (two-hot
    included), states and parameters in float32. (The encoder's first product: autocast computes normalisation in
    float32 on CUDA, so the encoder's output is bf16 on a CPU only.)"""
    model = DreamerV3("MlpPolicy", ActionRewardEnv(discrete=True), seed=0, precision="bf16-mixed", **TINY)
    world_model = model.policy.world_model
    dtypes = {}
    first_product = next(m for m in world_model.encoder.modules() if isinstance(m, nn.Linear))
    modules = dict(hidden=first_product, prior=world_model.rssm.transition_model, deter=world_model.rssm.recurrent_model)
    for name, module in modules.items():
        module.register_forward_hook(lambda m, i, out, name=name: dtypes.setdefault(name, set()).add(out.dtype))
    model.learn(150)
    assert th.bfloat16 in dtypes["hidden"] and dtypes["prior"] == dtypes["deter"] == {th.float32}
    assert all(p.dtype == th.float32 for p in model.policy.parameters())
    assert np.isfinite(model.logger.name_to_value["train/critic_loss"]) and model._n_updates > 0


@pytest.mark.parametrize("replay_critic_scale", [0.0, 0.3])
def test_imagination_chunks_give_the_same_updates(monkeypatch, replay_critic_scale):
    """Chunks sum to the whole batch's gradients; the return normaliser sees the whole batch's returns after the
    actor's step, so its statistics are the same too; the replayed-value loss bootstraps from the chunks' returns in
    the start states' order. Random draws are made modes, so that chunks draw alike."""
    monkeypatch.setattr(
        th.distributions.normal, "_standard_normal", lambda shape, dtype, device: th.zeros(shape, dtype=dtype, device=device)
    )
    monkeypatch.setattr(
        OneHotCategoricalStraightThrough,
        "sample",
        lambda self, shape=(): th.nn.functional.one_hot(self.probs.argmax(-1), self.probs.shape[-1]).to(self.probs),
    )
    models = [
        DreamerV3(
            "MlpPolicy", ActionRewardEnv(), seed=0, imagination_chunks=chunks, replay_critic_scale=replay_critic_scale, **TINY
        ).learn(150)
        for chunks in (1, 3)
    ]
    assert models[0]._n_updates == models[1]._n_updates > 0
    for (key, a), b in zip(models[0].policy.state_dict().items(), models[1].policy.state_dict().values(), strict=True):
        assert th.allclose(a, b, rtol=1e-4, atol=1e-5), key


def test_world_model_pictures(tmp_path):
    model = DreamerV3("CnnPolicy", _ImageEnv(16), seed=0, image_log_interval=5, tensorboard_log=str(tmp_path), **TINY)
    model.learn(130, log_interval=1)
    events = _events(tmp_path)
    assert {"world_model/reconstruction_observation", "world_model/open_loop_observation"} <= set(events.Tags()["images"])


def test_activation_checkpointing_gives_the_same_updates():
    """Recomputing imagination in the backward pass (random draws replayed) leaves DreamerV3's updates as they were:
    two-hot heads, unimix categoricals and the return normaliser included."""
    models = [
        DreamerV3("MlpPolicy", ActionRewardEnv(discrete=True), seed=0, activation_checkpointing=flag, **TINY).learn(130)
        for flag in (False, True)
    ]
    assert models[0]._n_updates == models[1]._n_updates > 0
    for (key, a), b in zip(models[0].policy.state_dict().items(), models[1].policy.state_dict().values(), strict=True):
        assert th.allclose(a, b, rtol=1e-5, atol=1e-6), key
