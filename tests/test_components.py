"""Unit tests of the building blocks: returns, KL, distributions, RSSM resets, replay."""

import math
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from torch import distributions as td
from torch import nn

from sb3_dreamer.common.buffers import OBS_KEY, SequenceReplayBuffer
from sb3_dreamer.common.distributions import inverse_softplus, one_hot_straight_through, tanh_normal
from sb3_dreamer.common.losses import frozen, kl_loss
from sb3_dreamer.common.returns import lambda_returns, replay_lambda_returns
from sb3_dreamer.common.rssm import RSSM, CategoricalLatent, GaussianLatent


def test_lambda_returns_hand_computed():
    rewards = th.tensor([[1.0], [2.0]])
    values = th.tensor([[10.0], [20.0]])
    discounts = th.tensor([[0.5], [0.5]])
    returns = lambda_returns(rewards, values, discounts, lambda_=0.5)
    # V_1 = r_2 + d_2 v_2 = 2 + 10 = 12;  V_0 = r_1 + d_1 ((1 - l) v_1 + l V_1) = 1 + 0.5 (5 + 6) = 6.5
    assert th.allclose(returns, th.tensor([[6.5], [12.0]]))


def test_lambda_returns_limits():
    rewards, values, discounts = th.rand(5, 3), th.rand(5, 3), 0.9 * th.rand(5, 3)
    # lambda = 0: one-step TD targets
    assert th.allclose(lambda_returns(rewards, values, discounts, 0.0), rewards + discounts * values)
    # lambda = 1: discounted sum of rewards, bootstrapped with the last value
    expected, running = [], values[-1]
    for k in reversed(range(5)):
        running = rewards[k] + discounts[k] * running
        expected.append(running)
    assert th.allclose(lambda_returns(rewards, values, discounts, 1.0), th.stack(expected[::-1]))


def test_replay_lambda_returns_hand_computed():
    """Rows: 0 and 1 mid-episode, 2 ends it, 3 starts the next one, 4 continues it (gamma = lambda = 0.5)."""
    rewards, boot = th.tensor([[0.0, 1.0, 2.0, 0.0, 3.0]]), th.tensor([[10.0, 20.0, 30.0, 40.0, 50.0]])
    is_first = th.tensor([[True, False, False, True, False]])  # row 0: every sample starts from the zero state
    terminated = th.tensor([[False, False, True, False, False]])
    returns, weights = replay_lambda_returns(rewards, boot, is_first, terminated, gamma=0.5, lambda_=0.5)
    # R_3 = r_4 + g b_4 = 28 (R_4 = b_4); R_2 = r_3 + g ((1 - l) b_3 + l R_3) = 17 (masked: row 2 ends its episode);
    # R_1 = r_2 = 2 (terminal: nothing after it); R_0 = r_1 + g ((1 - l) b_1 + l R_1) = 1 + 0.5 (10 + 1) = 6.5
    assert th.allclose(returns, th.tensor([[6.5, 2.0, 17.0, 28.0]]))
    assert th.equal(weights, th.tensor([[1.0, 1.0, 0.0, 1.0]]))
    # truncated instead of terminated at row 2: R_1 bootstraps from row 2's imagined return alone, lambda 0
    returns, _ = replay_lambda_returns(rewards, boot, is_first, th.zeros_like(terminated), gamma=0.5, lambda_=0.5)
    assert th.allclose(returns[0, :2], th.tensor([1 + 0.5 * (10 + 0.5 * 17), 2 + 0.5 * 30]))


def test_replay_lambda_returns_match_the_authors_formula():
    """danijar/dreamerv3 (2025) ``lambda_return(last, term, rew, val, boot, disc, lam)``, ported line by line, with
    ``is_last[t] = is_first[t + 1]``; the last row's unknown ``is_last`` changes nothing."""
    th.manual_seed(0)
    B, L, gamma, lam = 4, 9, 0.9, 0.95
    rewards, boot = th.randn(B, L), th.randn(B, L)
    is_first = th.rand(B, L) < 0.25
    is_first[:, 0] = True
    is_terminal = th.zeros(B, L, dtype=th.bool)
    is_terminal[:, :-1] = is_first[:, 1:] & (th.rand(B, L - 1) < 0.5)  # some episodes end by termination
    returns, weights = replay_lambda_returns(rewards, boot, is_first, is_terminal, gamma, lam)
    for final_is_last in (0.0, 1.0):
        last = th.cat([is_first[:, 1:].float(), th.full((B, 1), final_is_last)], 1)
        rets = [boot[:, -1]]
        live = (1 - is_terminal.float())[:, 1:] * gamma
        cont = (1 - last)[:, 1:] * lam
        interm = rewards[:, 1:] + (1 - cont) * live * boot[:, 1:]
        for t in reversed(range(live.shape[1])):
            rets.append(interm[:, t] + live[:, t] * cont[:, t] * rets[-1])
        expected = th.stack(list(reversed(rets))[:-1], 1)
        assert th.allclose(returns, expected, atol=1e-6)
        assert th.equal(weights, 1 - last[:, :-1])


def _gaussian_params(mean_gap: float):
    """Posterior and prior parameters of GaussianLatent(3) with unit std, means ``mean_gap`` apart."""
    raw_std = th.full((4, 3), inverse_softplus(1.0 - 0.1))  # softplus(raw) + min_std 0.1 = 1
    post_mean = th.full((4, 3), mean_gap, requires_grad=True)
    return post_mean, th.cat([post_mean, raw_std], -1), th.cat([th.zeros(4, 3), raw_std], -1)


def test_free_nats_kl():
    # KL of unit Gaussians = |mean difference|^2 / 2 per dimension, summed over 3 dimensions
    post_mean, post, prior = _gaussian_params(0.5)
    loss, kl = kl_loss(post, prior, GaussianLatent(3), free_nats=3.0)
    assert th.isclose(kl, th.tensor(3 * 0.125))
    assert loss.item() == 3.0  # below free nats: constant ...
    loss.backward()
    assert post_mean.grad is not None and th.all(post_mean.grad == 0)  # ... and no gradient

    post_mean, post, prior = _gaussian_params(2.0)
    loss, kl = kl_loss(post, prior, GaussianLatent(3), free_nats=3.0)
    assert th.isclose(loss, th.tensor(6.0), atol=1e-5) and th.isclose(kl, th.tensor(6.0), atol=1e-5)
    loss.backward()
    assert th.all(post_mean.grad > 0)


@pytest.mark.parametrize("latent", [GaussianLatent(3), CategoricalLatent(4, 5)])
def test_kl_balancing_splits_the_gradient(latent):
    """KL balancing keeps the KL's value but gives the prior alpha and the posterior 1 - alpha of its gradient."""
    th.manual_seed(0)
    post = th.randn(6, latent.param_size, requires_grad=True)
    prior = th.randn(6, latent.param_size, requires_grad=True)

    plain, kl = kl_loss(post, prior, latent, free_nats=0.0)
    grad_post, grad_prior = th.autograd.grad(plain, [post, prior])
    balanced, balanced_kl = kl_loss(post, prior, latent, free_nats=0.0, balance=0.8)
    bal_post, bal_prior = th.autograd.grad(balanced, [post, prior])

    assert th.isclose(balanced, plain) and th.isclose(balanced_kl, kl) and kl > 0.1
    assert th.allclose(bal_prior, 0.8 * grad_prior, atol=1e-6)
    assert th.allclose(bal_post, 0.2 * grad_post, atol=1e-6)
    # free nats: both balanced terms are clipped, so a small KL passes no gradient
    clipped, _ = kl_loss(post, prior, latent, free_nats=1e3, balance=0.8)
    assert not any(g.abs().sum() for g in th.autograd.grad(clipped, [post, prior], allow_unused=True) if g is not None)


def test_categorical_latent_is_one_hot_with_straight_through_gradients():
    latent = CategoricalLatent(variables=3, classes=4)
    logits = th.randn(5, 12, requires_grad=True)
    sample = latent.sample(logits)
    assert sample.shape == (5, 12)
    groups = sample.detach().unflatten(-1, (3, 4))
    assert th.all(groups.sum(-1) == 1) and set(groups.unique().tolist()) == {0.0, 1.0}  # exactly one-hot forward
    weights = th.randn(12)
    (sample * weights).sum().backward()
    # backward is the gradient of the probabilities: d/dlogits of sum_k w_k softmax_k, per variable
    probs = logits.detach().unflatten(-1, (3, 4)).softmax(-1).requires_grad_(True)
    expected = th.autograd.grad((probs * weights.unflatten(-1, (3, 4))).sum(), probs)[0]
    jacobian_product = probs.detach() * (expected - (probs.detach() * expected).sum(-1, keepdim=True))
    assert th.allclose(logits.grad, jacobian_product.flatten(-2), atol=1e-6)
    probs = logits.detach().unflatten(-1, (3, 4)).softmax(-1)
    mean = latent.sample(logits, deterministic=True).unflatten(-1, (3, 4))
    assert th.allclose(mean, probs)  # by default the mean, the class probabilities
    mixed = CategoricalLatent(variables=3, classes=4, unimix=0.01).sample(logits, deterministic=True).unflatten(-1, (3, 4))
    assert th.allclose(mixed, 0.99 * probs + 0.01 / 4, atol=1e-6)
    mode = CategoricalLatent(3, 4, deterministic="mode").sample(logits, deterministic=True).unflatten(-1, (3, 4))
    assert th.equal(mode, th.nn.functional.one_hot(probs.argmax(-1), 4).float())
    with pytest.raises(ValueError, match="deterministic must be one of"):
        CategoricalLatent(3, 4, deterministic="sample")


def test_straight_through_gradient():
    logits = th.tensor([[0.1, 2.0, -1.0]], requires_grad=True)
    weights = th.tensor([[1.0, -2.0, 3.0]])
    th.manual_seed(0)
    sample = one_hot_straight_through(logits).rsample()
    # forward: exactly one-hot
    assert th.equal(sample.sum(-1), th.ones(1)) and set(sample.flatten().tolist()) <= {0.0, 1.0}
    (sample * weights).sum().backward()
    # backward: the gradient of the probabilities
    probs_logits = logits.detach().clone().requires_grad_(True)
    (th.softmax(probs_logits, -1) * weights).sum().backward()
    assert th.allclose(logits.grad, probs_logits.grad) and logits.grad.abs().sum() > 0


def test_one_hot_sampling_draws_each_class_with_its_probability():
    """The inverse-CDF sampler draws from the categorical: frequencies within 5 standard errors of the
    probabilities over 200,000 draws, never a class of probability 0, one-hot of the requested shape."""
    th.manual_seed(0)
    logits = th.tensor([[0.0, 1.0, -1.0, -float("inf")], [2.0, 0.0, 0.0, 0.0], [-30.0, 0.0, -30.0, -30.0]])
    dist = one_hot_straight_through(logits)
    draws = dist.sample((200_000,))
    assert draws.shape == (200_000, 3, 4) and th.all(draws.sum(-1) == 1)
    frequencies, probs = draws.mean(0), dist.probs
    standard_error = (probs * (1 - probs) / 200_000).sqrt()
    assert th.all((frequencies - probs).abs() <= 5 * standard_error + 1e-6)
    assert draws[:, 0, 3].sum() == 0  # probability 0
    assert dist.rsample((7,)).shape == (7, 3, 4)


def test_one_hot_straight_through_validates_nothing():
    """No argument checks in the update's hot path: a NaN logit and a non-one-hot value pass through (with the
    validating default, torch raises on both), and log-probabilities and the entropy are torch's."""
    logits = th.tensor([[0.5, float("nan"), 0.0]])
    one_hot_straight_through(logits).log_prob(th.tensor([[2.0, 0.0, 0.0]]))  # raises with validation
    logits = th.tensor([[0.5, -1.0, 0.0], [2.0, 0.0, 1.0]])
    reference = td.OneHotCategorical(logits=logits)
    dist = one_hot_straight_through(logits)
    value = th.eye(3)[[2, 0]]
    assert th.equal(dist.log_prob(value), reference.log_prob(value))
    assert th.equal(dist.entropy(), reference.entropy())
    assert th.equal(dist.probs, reference.probs) and dist.batch_shape == (2,) and dist.event_shape == (3,)


def test_tanh_normal_bounded_and_reparameterised():
    mean = th.zeros(1000, 2, requires_grad=True)
    dist = tanh_normal(mean, th.full((1000, 2), 3.0))
    sample = dist.rsample()
    assert sample.abs().max() <= 1.0
    assert th.isfinite(dist.log_prob(sample)).all()
    sample.sum().backward()
    assert mean.grad.abs().sum() > 0


def test_frozen_blocks_parameter_gradients_only():
    frozen_layer, free_layer = nn.Linear(2, 2), nn.Linear(2, 1)
    x = th.ones(1, 2)
    with frozen(frozen_layer):
        free_layer(frozen_layer(x)).sum().backward()
    assert frozen_layer.weight.grad is None and free_layer.weight.grad is not None
    assert frozen_layer.weight.requires_grad  # restored afterwards


def test_rssm_resets_state_at_is_first():
    th.manual_seed(0)
    rssm = RSSM(embed_size=5, action_dim=2, deter_size=8, latent=GaussianLatent(4), hidden_size=8, activation=nn.ELU)
    embed, actions = th.randn(3, 6, 5), th.randn(3, 6, 2)
    is_first = th.zeros(3, 6, dtype=th.bool)
    is_first[:, 0] = True
    is_first[:, 3] = True
    th.manual_seed(1)
    states, _, _ = rssm.observe(embed, actions, is_first)
    # The deterministic state right after a reset depends only on that step, not on what came before.
    alone, _, _ = rssm.observe(embed[:, 3:], actions[:, 3:], is_first[:, 3:])
    assert th.allclose(states.deter[:, 3], alone.deter[:, 0])
    # Without the reset it would differ.
    is_first[:, 3] = False
    th.manual_seed(1)
    joined, _, _ = rssm.observe(embed, actions, is_first)
    assert not th.allclose(joined.deter[:, 3], alone.deter[:, 0])


def test_open_loop_observes_only_the_context():
    rssm = RSSM(embed_size=5, action_dim=2, deter_size=8, latent=GaussianLatent(4), hidden_size=8, activation=nn.ELU)
    embed, actions, is_first = th.randn(3, 7, 5), th.randn(3, 7, 2), th.zeros(3, 7, dtype=th.bool)
    is_first[:, 0] = True
    th.manual_seed(1)
    states = rssm.open_loop(embed, actions, is_first, context=3)
    assert states.deter.shape == (3, 7, 8) and states.stoch.shape == (3, 7, 4)
    th.manual_seed(1)
    posterior, _, _ = rssm.observe(embed[:, :3], actions[:, :3], is_first[:, :3])
    assert th.equal(states.deter[:, :3], posterior.deter)  # filtered context
    # Observations after the context are never read; the actions taken are.
    changed = embed.clone()
    changed[:, 3:] += 10.0
    th.manual_seed(1)
    assert th.equal(rssm.open_loop(changed, actions, is_first, context=3).deter, states.deter)
    other_actions = actions.clone()
    other_actions[:, 4] += 1.0
    th.manual_seed(1)
    moved = rssm.open_loop(embed, other_actions, is_first, context=3).deter
    assert th.equal(moved[:, :4], states.deter[:, :4]) and not th.allclose(moved[:, 4], states.deter[:, 4])


def test_observe_backpropagates_the_sequence_in_one_piece():
    """The embeddings' gradient comes from one node, not one zero-padded full-sequence gradient per step (L of
    them, summed: quadratic in the sequence length), and equals the per-step computation's exactly."""
    rssm = RSSM(embed_size=5, action_dim=2, deter_size=8, latent=GaussianLatent(4), hidden_size=8, activation=nn.ELU)
    embed, actions, is_first = th.randn(3, 6, 5, requires_grad=True), th.randn(3, 6, 2), th.zeros(3, 6, dtype=th.bool)
    is_first[:, 0] = True
    th.manual_seed(1)
    states, prior, post = rssm.observe(embed, actions, is_first)
    loss = states.deter.square().sum() + post.sum() + prior.sum()
    readers, seen, stack = [], set(), [loss.grad_fn]
    while stack:  # the autograd nodes that read the embeddings directly
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        for child, _ in node.next_functions:
            if child is not None and getattr(child, "variable", None) is embed:
                readers.append(node.name())
            stack.append(child)
    assert readers == ["UnbindBackward0"]
    (grad,) = th.autograd.grad(loss, embed)
    th.manual_seed(1)  # the same filter step by step, each step's embedding indexed from the sequence
    state, deters, posts = rssm.initial_state(3, embed.device), [], []
    for t in range(6):
        state, step_post = rssm.observe_step(state, actions[:, t], embed[:, t], is_first[:, t])
        deters.append(state.deter)
        posts.append(step_post)
    deter = th.stack(deters, 1)
    reference = deter.square().sum() + th.stack(posts, 1).sum() + rssm.transition_model(deter).sum()
    assert th.equal(th.autograd.grad(reference, embed)[0], grad)


# ------------------------------------------------------------------ replay


def _fill(buffer: SequenceReplayBuffer, episodes: list[tuple[int, bool]], n_envs: int = 1):
    """Add episodes (length, terminated) to every env stream; obs = 1000 * episode + t."""
    for ep, (length, terminated) in enumerate(episodes):
        for t in range(length):
            obs = np.full((n_envs, 1), 1000 * ep + t, dtype=np.float32)
            done = t == length - 1
            infos = [{"TimeLimit.truncated": done and not terminated} for _ in range(n_envs)]
            buffer.add(obs, obs + 1, np.zeros((n_envs, 1)), np.full(n_envs, t + 1.0), np.full(n_envs, done), infos)


def test_replay_never_crosses_episodes_without_reset():
    space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
    buffer = SequenceReplayBuffer(97, space, spaces.Box(-1, 1, (1,)), device="cpu", n_envs=2)
    rng = np.random.default_rng(0)
    _fill(buffer, [(int(n), bool(rng.integers(2))) for n in rng.integers(1, 30, size=20)], n_envs=2)
    assert buffer.env_full.all()  # wrapped around: the write head sits inside the data
    np.random.seed(0)
    for _ in range(20):
        batch = buffer.sample(32, sequence_length=10)
        obs = batch.observations[OBS_KEY][..., 0].numpy()
        first = batch.is_first.numpy()
        assert first[:, 0].all()
        episode, step = obs // 1000, obs % 1000
        same = ~first[:, 1:]
        # inside an episode: same episode, consecutive steps; a new episode only where is_first is set
        assert np.all(episode[:, 1:][same] == episode[:, :-1][same])
        assert np.all(step[:, 1:][same] == step[:, :-1][same] + 1)
        starts = first[:, 1:]
        assert np.all(step[:, 1:][starts] == 0)
        assert np.all(episode[:, 1:][starts] == episode[:, :-1][starts] + 1)  # chronological, no wrap jump


def test_replay_layout_terminated_vs_truncated():
    space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
    buffer = SequenceReplayBuffer(100, space, spaces.Box(-1, 1, (1,)), device="cpu")
    _fill(buffer, [(3, True), (2, False)])
    # each episode: its first observation, then one row per step
    assert buffer.size() == (3 + 1) + (2 + 1)
    obs = buffer.observations[:7, 0, 0]
    assert obs.tolist() == [0, 1, 2, 3, 1000, 1001, 1002]
    assert buffer.is_first[:7, 0].tolist() == [True, False, False, False, True, False, False]
    assert buffer.dones[:7, 0].tolist() == [0, 0, 0, 1, 0, 0, 0]  # only termination is terminal
    assert buffer.timeouts[:7, 0].tolist() == [0, 0, 0, 0, 0, 0, 1]
    assert buffer.rewards[:7, 0].tolist() == [0, 1, 2, 3, 0, 1, 2]  # reward on arriving at o_t


def test_replay_stores_pixels_once_as_uint8():
    image = spaces.Box(0, 255, (3, 64, 64), np.uint8)
    buffer = SequenceReplayBuffer(1000, image, spaces.Box(-1, 1, (6,)), device="cpu")
    assert buffer.observations.dtype == np.uint8
    assert not hasattr(buffer, "next_observations")
    raw = 3 * 64 * 64
    per_row = buffer.nbytes / buffer.buffer_size
    assert raw <= per_row <= 1.02 * raw
    assert buffer.stored_nbytes == 0
    frames = np.random.randint(0, 256, (2, 1, 3, 64, 64), dtype=np.uint8)
    buffer.add(frames[0], frames[1], np.zeros((1, 6)), np.zeros(1), np.zeros(1), [{}])
    assert buffer.stored_nbytes == 2 * buffer.nbytes // buffer.buffer_size  # two rows: the first frame and the next
    assert np.array_equal(buffer.observations[:2, 0], frames[:, 0])
    batch = buffer.sample(4, sequence_length=2)
    assert batch.observations[OBS_KEY].dtype == th.uint8 and batch.observations[OBS_KEY].shape == (4, 2, 3, 64, 64)


def test_replay_pickles_only_the_rows_written():
    image = spaces.Box(0, 255, (3, 64, 64), np.uint8)
    buffer = SequenceReplayBuffer(100_000, image, spaces.Box(-1, 1, (2,)), device="cpu", n_envs=2)
    frames = np.random.randint(0, 256, (11, 2, 3, 64, 64), dtype=np.uint8)
    for t in range(10):
        done = np.array([t == 4, False], dtype=np.float32)
        buffer.add(frames[t], frames[t + 1], np.full((2, 2), t / 10), np.full(2, t), done, [{}, {}])
    pickled = pickle.dumps(buffer)
    assert len(pickled) < 30 * 2 * 3 * 64 * 64  # about 12 rows of 2 streams, not the 50k-row capacity (2.4 GB)
    loaded = pickle.loads(pickled)
    assert loaded.observations.shape == buffer.observations.shape and loaded.actions.shape == buffer.actions.shape
    for name in ("observations", "actions", "rewards", "dones", "timeouts", "is_first"):
        assert np.array_equal(getattr(loaded, name), getattr(buffer, name)), name
    assert loaded.size() == buffer.size() and np.array_equal(loaded.env_pos, buffer.env_pos)
    batches = []
    for copy in (buffer, loaded):  # the loaded buffer goes on as the original would
        copy.add(frames[10], frames[0], np.ones((2, 2)), np.ones(2), np.zeros(2), [{}, {}])
        np.random.seed(0)
        batches.append(copy.sample(8, sequence_length=5))
    assert np.array_equal(loaded.observations, buffer.observations)
    for a, b in zip(*batches, strict=True):
        assert all(th.equal(a[k], b[k]) for k in a) if isinstance(a, dict) else th.equal(a, b)


@pytest.mark.parametrize("on_disk", [False, True])
def test_dict_replay_pickles_and_loads_exactly_when_full(tmp_path, on_disk):
    """A Dict-observation replay (images and vectors), in RAM or memory-mapped, filled to its capacity: the pickle
    loads to the same rows and the same next samples; a memory-mapped one reopens its files, and says so when they
    are gone; reset() empties every stream."""
    space = spaces.Dict({"img": spaces.Box(0, 255, (1, 8, 8), np.uint8), "vec": spaces.Box(-1, 1, (3,))})
    storage = str(tmp_path / "replay") if on_disk else None
    buffer = SequenceReplayBuffer(12, space, spaces.Discrete(3), device="cpu", n_envs=2, storage_dir=storage)
    rng = np.random.default_rng(0)

    def observation():
        return {"img": rng.integers(0, 256, (2, 1, 8, 8), dtype=np.uint8), "vec": rng.uniform(-1, 1, (2, 3))}

    for t in range(9):  # 6 rows per stream: the streams wrap around
        done = np.array([t % 4 == 3, False], dtype=np.float32)
        buffer.add(observation(), observation(), np.eye(3)[[t % 3, 1]], np.full(2, t), done, [{}, {}])
    assert buffer.full
    loaded = pickle.loads(pickle.dumps(buffer))
    for key in ("img", "vec"):
        assert np.array_equal(loaded.observations[key], buffer.observations[key]), key
    for name in ("actions", "rewards", "dones", "is_first", "env_pos"):
        assert np.array_equal(getattr(loaded, name), getattr(buffer, name)), name
    batches = []
    for copy in (buffer, loaded):
        np.random.seed(0)
        batches.append(copy.sample(4, sequence_length=3))
    assert all(th.equal(batches[0].observations[k], batches[1].observations[k]) for k in ("img", "vec"))
    assert th.equal(batches[0].actions, batches[1].actions) and th.equal(batches[0].rewards, batches[1].rewards)
    loaded.reset()
    assert loaded.size() == 0 and not loaded.full and not np.any(loaded.env_pos)
    if on_disk:
        state = pickle.dumps(buffer)
        buffer.release()
        assert os.listdir(storage) == []
        with pytest.raises(FileNotFoundError, match="must stay where it was written"):
            pickle.loads(state)


def test_replay_sampling_short_buffer_and_dict():
    space = spaces.Dict({"img": spaces.Box(0, 255, (1, 16, 16), np.uint8), "vec": spaces.Box(-1, 1, (3,))})
    buffer = SequenceReplayBuffer(50, space, spaces.Discrete(3), device="cpu", n_envs=2)
    obs = {"img": np.zeros((2, 1, 16, 16), np.uint8), "vec": np.zeros((2, 3), np.float32)}
    buffer.add(obs, obs, np.eye(3)[[0, 2]], np.zeros(2), np.zeros(2), [{}, {}])
    batch = buffer.sample(5, sequence_length=50)  # fewer rows than asked: sequences as long as the data
    assert batch.observations["img"].shape == (5, 2, 1, 16, 16)
    assert batch.observations["vec"].shape == (5, 2, 3)
    assert batch.actions.shape == (5, 2, 3)
    with pytest.raises(RuntimeError, match="empty"):
        SequenceReplayBuffer(50, space, spaces.Discrete(3), device="cpu").sample(1)


@pytest.mark.parametrize(("mean", "std"), [(0.5, 0.1), (0.5, 3.0), (-0.3, 5.0), (2.0, 0.5)])
def test_tanh_normal_mode_matches_histogram(mean, std):
    from sb3_dreamer.common.distributions import tanh_normal_mode

    dist = tanh_normal(th.tensor([[mean]]), th.tensor([[std]]))
    th.manual_seed(0)
    hist = th.histc(dist.sample((50_000,)), 100, -1, 1)
    peak = -1 + (hist.argmax().item() + 0.5) * 0.02
    assert abs(tanh_normal_mode(dist).item() - peak) <= 0.03
    assert th.equal(tanh_normal_mode(dist), tanh_normal_mode(dist))  # no randomness


@pytest.mark.parametrize("shape", [(3, 64, 64), (1, 17, 23), (4, 10, 10), (10, 7, 12)])
def test_image_decoder_mirrors_encoder(shape):
    from sb3_dreamer.common.networks import ConvDecoder, ConvEncoder

    encoder = ConvEncoder(shape, depth=4, activation=nn.ELU)
    decoder = ConvDecoder(5, encoder, nn.ELU)
    assert encoder(th.zeros(2, 3, *shape)).shape == (2, 3, encoder.output_dim)
    assert decoder(th.zeros(2, 3, 5)).shape == (2, 3, *shape)
    assert len(encoder.layout) == (4 if min(shape[1:]) >= 16 else 3)


@pytest.mark.parametrize("bias", [True, False])
def test_point_transposed_convolution_is_the_product(bias):
    """PointConvTranspose2d: on a 1x1 map, the same outputs and gradients as nn.ConvTranspose2d (float32 rounding),
    computed as one product (oneDNN's linear where enabled, the backend of ``common.linear``); channels-last output;
    other maps go through nn.ConvTranspose2d; the same state-dict keys."""
    from sb3_dreamer.common.networks import PointConvTranspose2d

    th.manual_seed(0)
    reference = nn.ConvTranspose2d(24, 5, 3, 2, bias=bias)
    point = PointConvTranspose2d(24, 5, 3, 2, bias=bias)
    point.load_state_dict(reference.state_dict())
    assert point.state_dict().keys() == reference.state_dict().keys()
    for side in (1, 2):  # a 1x1 map is the product; a 2x2 map goes through nn.ConvTranspose2d
        x = th.randn(32, 24, side, side, requires_grad=True)
        x_point = x.detach().clone().requires_grad_(True)
        expected, got = reference(x), point(x_point)
        assert got.shape == expected.shape and th.allclose(got, expected, atol=1e-5)
        if side == 1:
            assert got.is_contiguous(memory_format=th.channels_last)
        grad = th.randn_like(expected)
        expected.backward(grad)
        got.backward(grad)
        assert th.allclose(x_point.grad, x.grad, atol=1e-5)
        assert th.allclose(point.weight.grad, reference.weight.grad, atol=1e-4)
        if bias:
            assert th.allclose(point.bias.grad, reference.bias.grad, atol=1e-4)
        reference.zero_grad()
        point.zero_grad()


def test_valid_cnn_layout_is_the_papers():
    from sb3_dreamer.common.checks import UnsupportedSpaceError
    from sb3_dreamer.common.networks import ConvDecoder, ConvEncoder

    encoder = ConvEncoder((3, 64, 64), depth=32, activation=nn.ELU, layout="valid")
    decoder = ConvDecoder(230, encoder, nn.ELU)
    assert [shape[1] for shape in encoder.shapes] == [64, 31, 14, 6, 2]
    assert encoder.output_dim == 1024
    assert decoder(th.zeros(2, 230)).shape == (2, 3, 64, 64)
    convs = [layer for layer in decoder.net if isinstance(layer, nn.ConvTranspose2d)]
    assert [type(c).__name__ for c in convs] == ["PointConvTranspose2d"] + ["ConvTranspose2d"] * 3  # from the 1x1 map
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] == [
        (1024, 128, 5),
        (128, 64, 5),
        (64, 32, 6),
        (32, 3, 6),
    ]
    # the World Models / Dreamer decoder: 1024-unit linear layer, then transposed convolutions
    assert sum(p.numel() for p in decoder.parameters()) == 230 * 1024 + 1024 + sum(
        c.weight.numel() + c.bias.numel() for c in convs
    )
    with pytest.raises(UnsupportedSpaceError, match="64x64"):
        ConvEncoder((3, 32, 32), depth=4, activation=nn.ELU, layout="valid")
    with pytest.raises(ValueError, match="cnn_layout"):
        ConvEncoder((3, 64, 64), depth=4, activation=nn.ELU, layout="same")


def test_in_place_activations_change_only_rounding_and_memory():
    from sb3_dreamer.common.networks import mlp

    th.manual_seed(0)
    in_place = mlp(6, [16, 16], 3, nn.ELU)
    assert all(layer.inplace for layer in in_place if isinstance(layer, nn.ELU))
    plain = nn.Sequential(*[nn.ELU() if isinstance(layer, nn.ELU) else layer for layer in in_place])
    x = th.randn(5, 6, requires_grad=True)
    grads = []
    for net in (in_place, plain):
        net.zero_grad()
        out = net(x)
        (out**2).sum().backward()
        grads.append((out.detach(), x.grad.clone(), [p.grad.clone() for p in net.parameters()]))
        x.grad = None
    (out_a, dx_a, dp_a), (out_b, dx_b, dp_b) = grads
    assert th.equal(out_a, out_b)
    # ELU's backward from its output, (y + 1), instead of from its input, exp(x): equal up to float rounding
    close = dict(rtol=1e-6, atol=1e-7)
    assert th.allclose(dx_a, dx_b, **close) and all(th.allclose(a, b, **close) for a, b in zip(dp_a, dp_b, strict=True))
    assert not mlp(6, [16], 3, nn.Tanh)[1].__dict__.get("inplace", False)  # classes without the option


ACTIVATIONS = [nn.ELU, nn.CELU, nn.SELU, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardtanh, nn.SiLU, nn.Mish]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activations_run_in_place_only_where_autograd_copies_nothing(activation):
    """``activation_layer`` runs an activation in place exactly when its backward pass reads the output: then no
    copy of the input is made. SiLU, Mish and Hardtanh (ReLU6) read their input, which autograd would copy before
    an in-place op."""
    from torch.profiler import profile

    from sb3_dreamer.common.networks import IN_PLACE_ACTIVATIONS, activation_layer

    def copies(layer: nn.Module) -> int:
        x = th.randn(64, 8, requires_grad=True)
        with profile() as prof:
            layer(x * 1.0).sum().backward()
        return sum(event.count for event in prof.key_averages() if event.key == "aten::clone")

    layer = activation_layer(activation)
    assert layer.inplace == (activation in IN_PLACE_ACTIVATIONS)
    assert copies(activation(inplace=True)) == (0 if layer.inplace else 1)
    assert copies(layer) == 0


def test_replay_capacity_is_shared_by_the_environments():
    space = spaces.Box(0, 255, (3, 8, 8), np.uint8)
    buffer = SequenceReplayBuffer(1000, space, spaces.Box(-1, 1, (2,)), n_envs=4)
    assert buffer.buffer_size == 250 and buffer.observations.shape == (250, 4, 3, 8, 8)  # SB3's convention


@pytest.mark.parametrize(("shape", "event_dims"), [((5,), 0), ((4, 7), 1), ((2, 3, 8, 8), 3)])
def test_unit_normal_log_prob_is_torchs(shape, event_dims):
    from sb3_dreamer.common.distributions import unit_normal_log_prob

    mean, value = th.randn(shape, requires_grad=True), th.randn(shape)
    expected = th.distributions.Independent(th.distributions.Normal(mean, 1.0), event_dims).log_prob(value)
    ours = unit_normal_log_prob(mean, value, event_dims)
    assert ours.shape == expected.shape
    assert th.allclose(ours, expected, atol=1e-5)
    (grad,) = th.autograd.grad(ours.sum(), mean)
    assert th.allclose(grad, value - mean.detach(), atol=1e-6)
    # broadcast: K ensemble means against one target
    means = th.randn(3, *shape)
    assert th.allclose(
        unit_normal_log_prob(means, value, event_dims),
        th.distributions.Independent(th.distributions.Normal(means, 1.0), event_dims).log_prob(value),
        atol=1e-5,
    )


def test_reinforce_log_prob_of_box_actions_at_the_pre_tanh_sample():
    """REINFORCE scores a Box action at the Gaussian sample x that produced it: ln N(x; mu, std) - ln(1 - tanh(x)^2),
    exact (against float64) in value and in its gradient, also where tanh(x) rounds to +-1 in float32 (|x| > 8)."""
    from sb3_dreamer.common.policies import Actor

    actor = Actor(3, spaces.Box(-1, 1, (1,), np.float32), [8], nn.ELU)
    mean = th.zeros(4, 1, requires_grad=True)
    std = th.full((4, 1), 5.0)
    x = th.tensor([[-12.0], [-8.5], [9.0], [12.0]])
    dist = tanh_normal(mean, std)
    log_prob = actor.log_prob(dist, x)
    x64, std64 = x.double(), std.double()
    exact = (-0.5 * (x64 / std64) ** 2 - std64.log() - 0.5 * math.log(2 * math.pi) + 2 * th.log(th.cosh(x64))).squeeze(-1)
    assert th.allclose(log_prob.double(), exact, rtol=1e-6, atol=1e-5)
    (grad,) = th.autograd.grad(log_prob.sum(), mean)
    assert th.allclose(grad, x / 25.0, atol=1e-6)  # d/dmu ln N(x; mu, std) = (x - mu) / std^2: 0.48 at x = 12
    assert th.tanh(x).abs().max() == 1.0  # the action alone has lost x: inverting it cannot give these values
    action, sample = actor.rsample(dist)
    assert th.equal(action, th.tanh(sample))


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_gru_cell_runs_in_float32_outside_autocast(device):
    """Under bf16 autocast the RecurrentModel's input layer computes in bf16, but the GRU cell runs with
    autocast off on float32 inputs, so the recurrent state h_t is computed (not only returned) in float32."""
    if device == "cuda" and not th.cuda.is_available():
        pytest.skip("CUDA not available")
    rssm = RSSM(8, 2, 16, CategoricalLatent(4, 4), 12, nn.ELU).to(device)
    seen = {}

    def record(module, inputs, output):
        seen.update(autocast=th.is_autocast_enabled(device), inputs={x.dtype for x in inputs}, output=output.dtype)

    rssm.recurrent_model.gru.register_forward_hook(record)
    state = rssm.initial_state(3, th.device(device))
    with th.autocast(device, dtype=th.bfloat16):
        hidden = rssm.recurrent_model.input(th.cat([state.stoch, th.zeros(3, 2, device=device)], -1))
        deter = rssm.recurrent_model(state.deter, state.stoch, th.zeros(3, 2, device=device))
    assert hidden.dtype == th.bfloat16  # the layers around it do use bf16
    assert seen == {"autocast": False, "inputs": {th.float32}, "output": th.float32}
    assert deter.dtype == th.float32


def test_shared_parts_import_no_algorithm():
    """``common/`` is shared by the algorithms and imports none of them (no import circles)."""
    import ast
    import pathlib

    import sb3_dreamer.common

    algorithms = ("sb3_dreamer.dreamer", "sb3_dreamer.dreamer_v2", "sb3_dreamer.dreamer_v3", "sb3_dreamer.plan2explore")
    for path in pathlib.Path(sb3_dreamer.common.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            assert not any(name.startswith(algorithms) for name in names), (path.name, names)


_REUSE_FAULTS = """
import resource
import torch as th
from sb3_dreamer.common.memory import keep_freed_memory
print(keep_freed_memory())
for _ in range(8):  # a 64 MB block allocated, written and freed, 8 times: the page faults of each
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    th.empty(16_000_000).fill_(1.0)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_reused_without_page_faults():
    """With ``keep_freed_memory`` a freed 64 MB block is reused from the heap: allocating it again faults in no
    pages; with it off (``SB3_DREAMER_KEEP_FREED_MEMORY=0``) every allocation maps fresh pages (16k faults)."""
    runs = {}
    for setting in ("1", "0"):
        env = {**os.environ, "SB3_DREAMER_KEEP_FREED_MEMORY": setting, "OMP_NUM_THREADS": "1"}
        out = subprocess.run([sys.executable, "-c", _REUSE_FAULTS], env=env, capture_output=True, text=True, check=True)
        applied, *faults = out.stdout.split()
        runs[setting] = (applied == "True", [int(count) for count in faults])
    assert runs["1"][0] and not runs["0"][0]
    if min(runs["0"][1]) < 5000:  # 16k pages of 4 KB
        pytest.skip(f"this kernel maps large blocks with few faults ({runs['0'][1]}): transparent huge pages")
    assert max(runs["1"][1][-4:]) < 100, runs  # once settled (after a reuse or two), no faults at all


_LAZY_REPLAY = """
import gc
import numpy as np
from gymnasium import spaces
from sb3_dreamer.common.buffers import SequenceReplayBuffer
from sb3_dreamer.common.memory import keep_freed_memory

def resident_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))

print(keep_freed_memory())
images = spaces.Box(0, 255, (3, 64, 64), np.uint8)
scratch = []
for _ in range(3):  # a 1.2 GB image buffer made, given a few rows and freed, 3 times
    buffer = SequenceReplayBuffer(100_000, images, spaces.Discrete(2), device="cpu")
    buffer.observations[:100] = 7
    del buffer
    gc.collect()
    scratch.append(np.ones(10_000_000))  # 80 MB, kept: malloc now holds the freed block dirty in its heap
    print(resident_mb())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and glibc's mallopt")
def test_image_replay_stays_lazy_when_freed_memory_is_kept():
    """With ``keep_freed_memory`` on, malloc reuses freed memory for ``np.zeros`` and writes zeros over all of it;
    the replay buffer's arrays map their own zero pages, so a 1.2 GB image buffer made again after one was freed
    stays as small in resident memory as the first (with ``np.zeros`` the second took 1.2 GB at once)."""
    env = {**os.environ, "SB3_DREAMER_KEEP_FREED_MEMORY": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _LAZY_REPLAY], env=env, capture_output=True, text=True, check=True)
    applied, *resident = out.stdout.split()
    assert applied == "True"
    assert max(int(mb) for mb in resident) < 900, out.stdout  # 80 MB of scratch each time; 1.2 GB a buffer touched
