"""Behaviour of the Dreamer algorithm: recurrent predict, save/load, spaces, logging, learning."""

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure

from sb3_dreamer import Dreamer, DreamerV2, DreamerV3, Plan2Explore
from sb3_dreamer.common.checks import UnsupportedSpaceError
from sb3_dreamer.common.losses import frozen
from sb3_dreamer.common.policies import DEFAULT_NET_ARCH
from sb3_dreamer.common.rssm import LatentState
from tests.envs import TINY, ActionRewardEnv

ALGOS = [Dreamer, DreamerV2]


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("discrete", [False, True])
def test_learns_tiny_task(algo, discrete):
    """Smoke learning test: the reward is the action, so the actor must learn to pick the best one."""
    model = algo("MlpPolicy", ActionRewardEnv(discrete), seed=0, **TINY)
    # the untrained actor samples nearly uniformly: about 0 (Box) or 10 / 3 (Discrete) per episode
    before, _ = evaluate_policy(model, ActionRewardEnv(discrete), n_eval_episodes=5, deterministic=False, warn=False)
    model.learn(1000)
    after, _ = evaluate_policy(model, ActionRewardEnv(discrete), n_eval_episodes=5, warn=False)
    assert before < 5 and after > 8, (before, after)  # 10 steps, best reward 1 per step


@pytest.mark.parametrize(("algo", "discrete"), [(Dreamer, False), (DreamerV2, True)])
def test_bf16_mixed_learns_tiny_task(algo, discrete):
    """precision="bf16-mixed": hidden layers compute in bf16, heads, states and parameters stay float32, and the
    tiny task is still learned."""
    model = algo("MlpPolicy", ActionRewardEnv(discrete), seed=0, precision="bf16-mixed", **TINY)
    dtypes = {}
    world_model = model.policy.world_model
    rssm = world_model.rssm
    modules = dict(hidden=world_model.encoder, reward=world_model.reward_model, prior=rssm.transition_model)
    for name, module in {**modules, "deter": rssm.recurrent_model}.items():
        module.register_forward_hook(lambda m, i, out, name=name: dtypes.setdefault(name, set()).add(out.dtype))
    model.learn(1000)
    assert dtypes["reward"] == dtypes["prior"] == dtypes["deter"] == {th.float32}
    assert th.bfloat16 in dtypes["hidden"]  # training (acting stays float32)
    assert all(p.dtype == th.float32 for p in model.policy.parameters())
    after, _ = evaluate_policy(model, ActionRewardEnv(discrete), n_eval_episodes=5, warn=False)
    assert after > 8, after


@pytest.mark.parametrize(("algo", "discrete"), [(Dreamer, False), (DreamerV2, True), (Plan2Explore, False)])
def test_activation_checkpointing_gives_the_same_updates(algo, discrete):
    """Recomputing imagination in the backward pass (random draws replayed) leaves every update as it was."""
    models = [
        algo("MlpPolicy", ActionRewardEnv(discrete), seed=0, activation_checkpointing=flag, **TINY).learn(150)
        for flag in (False, True)
    ]
    assert models[0]._n_updates == models[1]._n_updates > 0
    for a, b in zip(models[0].policy.parameters(), models[1].policy.parameters(), strict=True):
        assert th.allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("algo", [Dreamer, Plan2Explore])
def test_imagination_chunks_give_the_same_updates(algo, monkeypatch):
    """Imagining and backpropagating the start states in chunks sums to the whole batch's gradients. The
    Gaussian draws are made zero, so that the chunks' draws cannot differ from the whole batch's."""
    monkeypatch.setattr(
        th.distributions.normal, "_standard_normal", lambda shape, dtype, device: th.zeros(shape, dtype=dtype, device=device)
    )
    models = [algo("MlpPolicy", ActionRewardEnv(), seed=0, imagination_chunks=chunks, **TINY).learn(150) for chunks in (1, 3)]
    assert models[0]._n_updates == models[1]._n_updates > 0
    for a, b in zip(models[0].policy.parameters(), models[1].policy.parameters(), strict=True):
        assert th.allclose(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="imagination_chunks"):
        algo("MlpPolicy", ActionRewardEnv(), imagination_chunks=0, **TINY)


@pytest.mark.parametrize("algo", [Dreamer, DreamerV3])
def test_world_model_chunks_give_the_same_updates(algo, monkeypatch):
    """Encoding (recomputed in the backward pass) and decoding (backpropagated chunk by chunk) the batch's
    sequences in chunks gives the whole batch's gradients: images and vectors, Dreamer's Gaussian and DreamerV3's
    symlog squared error. No random draw moves: the chunks change no sample. (On CUDA, convolutions in float32:
    cuDNN's default TF32 rounds differently for each chunk's batch size.)"""
    monkeypatch.setattr(th.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(th.backends.cudnn, "deterministic", True)
    models = [
        algo("MultiInputPolicy", _ImageAndStateEnv(), seed=0, world_model_chunks=chunks, **TINY).learn(150)
        for chunks in (1, 3)
    ]
    assert models[0]._n_updates == models[1]._n_updates > 0
    for a, b in zip(models[0].policy.parameters(), models[1].policy.parameters(), strict=True):
        assert th.allclose(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="world_model_chunks"):
        algo("MlpPolicy", ActionRewardEnv(), world_model_chunks=0, **TINY)


def test_precision_is_checked():
    with pytest.raises(ValueError, match="bf16-mixed"):
        Dreamer("MlpPolicy", "Pendulum-v1", precision="16", **TINY)


@pytest.mark.parametrize("native", [False, True])
def test_auto_precision_follows_native_bf16(native, monkeypatch, recwarn):
    """precision="auto" computes in bf16-mixed only where bf16 is native (here: a CPU with AVX512_BF16 or AMX), in
    float32 elsewhere; asking for bf16-mixed where it is emulated warns, naming the slowdown."""
    from sb3_dreamer.common import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    auto = Dreamer("MlpPolicy", "Pendulum-v1", precision="auto", device="cpu", **TINY)
    assert auto.compute_precision == ("bf16-mixed" if native else "32")
    assert auto._autocast().fast_dtype == th.bfloat16 and auto._autocast()._enabled == native
    assert not [w for w in recwarn if issubclass(w.category, precision.EmulatedBF16Warning)]
    if native:
        Dreamer("MlpPolicy", "Pendulum-v1", precision="bf16-mixed", device="cpu", **TINY)
        assert not [w for w in recwarn if issubclass(w.category, precision.EmulatedBF16Warning)]
    else:
        with pytest.warns(precision.EmulatedBF16Warning, match="31x slower"):
            model = Dreamer("MlpPolicy", "Pendulum-v1", precision="bf16-mixed", device="cpu", **TINY)
        assert model.compute_precision == "bf16-mixed"  # asked for: it runs, warned


@pytest.mark.parametrize("algo", ALGOS)
def test_predict_state_and_episode_start(algo):
    model = algo("MlpPolicy", "Pendulum-v1", seed=0, **TINY)
    obs = np.random.default_rng(0).uniform(-1, 1, (3, 3)).astype(np.float32)
    action, state = model.predict(obs, deterministic=True)
    assert action.shape == (3, 1)
    stoch = 4 if algo is Dreamer else 4 * 32  # V2: 4 categorical variables of 32 classes
    assert [s.shape for s in state] == [(3, 16), (3, stoch), (3, 1)]
    if algo is not Dreamer:  # deterministic acting keeps the categoricals' means, not argmax one-hots
        probs = state[1].reshape(3, 4, 32)
        assert np.allclose(probs.sum(-1), 1, atol=1e-5) and (probs < 0.999).any() and (probs > 0).all()
        _, sampled = model.predict(obs)
        assert set(np.unique(sampled[1])) <= {0.0, 1.0}  # stochastic acting samples one-hots
    fresh, fresh_state = model.predict(obs, deterministic=True)
    # continue from the state, resetting only row 1: row 1 matches a fresh start, the others do not
    cont, cont_state = model.predict(obs, state=state, episode_start=np.array([False, True, False]), deterministic=True)
    assert np.allclose(cont_state[0][1], fresh_state[0][1]) and np.allclose(cont[1], fresh[1])
    assert not np.allclose(cont_state[0][0], fresh_state[0][0])
    assert not np.allclose(cont_state[0][2], fresh_state[0][2])
    # predict is pure: the collection state is untouched
    assert model._collect_state is None


def test_predict_rejects_bad_input():
    model = Dreamer("MlpPolicy", "Pendulum-v1", **TINY)
    with pytest.raises(ValueError):
        model.predict(np.zeros((2, 5), np.float32))
    _, state = model.predict(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="Recurrent state"):
        model.predict(np.zeros((3, 3), np.float32), state=state)
    with pytest.raises(ValueError, match="episode_start"):
        model.predict(np.zeros((2, 3), np.float32), state=state, episode_start=np.zeros(3))


@pytest.mark.parametrize(
    "action_space",
    [
        spaces.Box(-np.inf, np.inf, (2,), np.float32),
        spaces.MultiDiscrete([1, 1]),
        spaces.Tuple((spaces.Discrete(2), spaces.Discrete(3))),
    ],
)
def test_unsupported_action_spaces(action_space):
    class Env(ActionRewardEnv):
        def __init__(self):
            super().__init__()
            self.action_space = action_space

    with pytest.raises(UnsupportedSpaceError, match=r"finite|choice|Tuple"):
        Dreamer("MlpPolicy", Env(), **TINY)


class MultiActionEnv(ActionRewardEnv):
    """The reward is the fraction of the action's dimensions that equal ``target`` (MultiDiscrete or MultiBinary)."""

    def __init__(self, action_space: spaces.Space, target: np.ndarray):
        super().__init__()
        self.action_space, self.target = action_space, target

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(0.0)
        return obs, float(np.mean(np.asarray(action) == self.target)), terminated, truncated, info


MULTI_SPACES = [
    (spaces.MultiDiscrete([2, 3]), np.array([1, 2])),
    (spaces.MultiDiscrete([3, 2], start=[-1, 5]), np.array([1, 5])),
    (spaces.MultiBinary(3), np.array([1, 0, 1], np.int8)),
    (spaces.MultiBinary((2, 2)), np.array([[1, 0], [0, 1]], np.int8)),
]


@pytest.mark.parametrize(
    ("action_space", "target", "actor_gradient"),
    [(*space, "dynamics") for space in MULTI_SPACES] + [(*space, "reinforce") for space in MULTI_SPACES[1::2]],
    ids=str,
)
def test_factorised_actions_learn_a_tiny_task(action_space, target, actor_gradient):
    """MultiDiscrete and MultiBinary actions: a factorised actor learns to pick the rewarded action, by
    straight-through gradients through the dynamics or by REINFORCE on exact log-probabilities; ``predict``
    returns actions of the env's space."""
    env = MultiActionEnv(action_space, target)
    model = Dreamer("MlpPolicy", env, seed=0, actor_gradient=actor_gradient, **TINY)
    before, _ = evaluate_policy(model, MultiActionEnv(action_space, target), n_eval_episodes=5, deterministic=False)
    model.learn(1500)
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert action_space.contains(action), (action, action_space)
    after, _ = evaluate_policy(model, MultiActionEnv(action_space, target), n_eval_episodes=5)
    assert before < 6.5 and after > 9, (before, after)  # random: 10 / 2 or 10 * 5 / 12 per episode; best 10


@pytest.mark.parametrize(("action_space", "target"), MULTI_SPACES, ids=str)
def test_factorised_actions_round_trip(action_space, target):
    """Env actions -> model space (one-hot per dimension, or bits) -> env actions is the identity."""
    model = Dreamer("MlpPolicy", MultiActionEnv(action_space, target), **TINY)
    action_space.seed(0)
    actions = np.stack([action_space.sample() for _ in range(20)])
    model_actions = model.policy.to_model_action(actions)
    assert model_actions.shape == (20, model.policy.actor.action_dim)
    assert np.array_equal(model.policy.to_env_action(model_actions), actions)


def test_factorised_actor_distributions():
    """Log-probabilities and entropies of the factorised actor are the sums over its dimensions; straight-through
    samples pass the probabilities' gradients; exploration replaces whole slices (MultiDiscrete) or bits."""
    from sb3_dreamer.common.distributions import BernoulliStraightThrough, MultiOneHotStraightThrough

    logits = th.randn(6, 5, requires_grad=True)
    dist = MultiOneHotStraightThrough(logits, [2, 3])
    sample = dist.rsample()
    assert th.equal(sample.detach().sum(-1), th.full((6,), 2.0)) and set(sample.detach().unique().tolist()) <= {0.0, 1.0}
    first, second = sample.detach()[:, :2].argmax(-1), sample.detach()[:, 2:].argmax(-1)
    expected = logits[:, :2].log_softmax(-1)[th.arange(6), first] + logits[:, 2:].log_softmax(-1)[th.arange(6), second]
    assert th.allclose(dist.log_prob(sample.detach()), expected)
    probs = [logits[:, :2].softmax(-1), logits[:, 2:].softmax(-1)]
    assert th.allclose(dist.entropy(), sum(-(p * p.log()).sum(-1) for p in probs))
    (grad,) = th.autograd.grad((sample * th.arange(5.0)).sum(), logits)
    assert grad.abs().sum() > 0
    bits = BernoulliStraightThrough(logits)
    b = bits.rsample()
    p = logits.sigmoid()
    assert th.allclose(bits.log_prob(b.detach()), (b * p.log() + (1 - b) * (1 - p).log()).sum(-1).detach())
    assert th.equal(bits.mode, (logits > 0).float())
    model = Dreamer("MlpPolicy", MultiActionEnv(spaces.MultiDiscrete([2, 3]), np.array([0, 0])), **TINY)
    explored = model.policy.actor.explore(th.tensor([[1.0, 0, 1, 0, 0]]).repeat(2000, 1), 0.5)
    assert th.equal(explored[:, :2].sum(-1), th.ones(2000)) and th.equal(explored[:, 2:].sum(-1), th.ones(2000))
    changed = (explored[:, 2:].argmax(-1) != 0).float().mean()  # replaced with p 0.5, then a new class with p 2/3
    assert abs(changed - 1 / 3) < 0.05


def test_unsupported_observation_spaces():
    class TextEnv(ActionRewardEnv):
        def __init__(self):
            super().__init__()
            self.observation_space = spaces.Dict({"text": spaces.Text(5)})

    with pytest.raises(ValueError, match="Text"):
        Dreamer("MultiInputPolicy", TextEnv(), **TINY)
    with pytest.raises(ValueError, match="MultiInputPolicy"):
        Dreamer("MlpPolicy", gym.make("CartPole-v1"), **TINY).policy.__class__(  # a Dict to MlpPolicy
            spaces.Dict({"a": spaces.Box(-1, 1, (2,))}), spaces.Discrete(2), lambda _: 1e-3
        )
    with pytest.raises(ValueError, match="at least 7x7"):
        Dreamer("CnnPolicy", _ImageEnv(size=6), **TINY)


class _ImageEnv(ActionRewardEnv):
    def __init__(self, size=16, channel_last=True):
        super().__init__()
        shape = (size, size, 3) if channel_last else (3, size, size)
        self.observation_space = spaces.Box(0, 255, shape, np.uint8)

    def _obs(self):
        return self.np_random.integers(0, 256, self.observation_space.shape, dtype=np.uint8)


class _ImageAndStateEnv(ActionRewardEnv):
    def __init__(self):
        super().__init__()
        image = spaces.Box(0, 255, (16, 16, 1), np.uint8)
        self.observation_space = spaces.Dict({"image": image, "state": self.observation_space})

    def _obs(self):
        return {"image": self.np_random.integers(0, 256, (16, 16, 1), dtype=np.uint8), "state": super()._obs()}


def _rollout(model, env, steps=25, deterministic=False, seed=0):
    th.manual_seed(seed)
    obs = env.reset()
    state, starts, actions = None, np.ones(env.num_envs, dtype=bool), []
    for _ in range(steps):
        action, state = model.predict(obs, state=state, episode_start=starts, deterministic=deterministic)
        obs, _, starts, _ = env.step(action)
        actions.append(action)
    return np.array(actions), state


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("policy", ["MlpPolicy", "CnnPolicy"])
def test_save_load_exact_recurrent_rollouts_two_envs(tmp_path, algo, policy):
    make = (lambda: ActionRewardEnv(length=7)) if policy == "MlpPolicy" else (lambda: _ImageEnv(16))
    env = make_vec_env(make, n_envs=2, seed=0)
    model = algo(policy, env, seed=0, **TINY).learn(120)
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model", env=env)
    for deterministic in [True, False]:
        env.seed(1)
        a1, s1 = _rollout(model, env, deterministic=deterministic)
        env.seed(1)
        a2, s2 = _rollout(loaded, env, deterministic=deterministic)
        assert np.array_equal(a1, a2)
        assert all(np.array_equal(x, y) for x, y in zip(s1, s2, strict=True))


def test_valid_cnn_layout_trains_and_survives_save_load(tmp_path):
    policy_kwargs = {**TINY["policy_kwargs"], "cnn_layout": "valid"}
    model = Dreamer("CnnPolicy", _ImageEnv(64), seed=0, **{**TINY, "policy_kwargs": policy_kwargs}).learn(60)
    assert model.policy.world_model.encoder.encoders["observation"].shapes[-1] == (32, 2, 2)
    model.save(tmp_path / "model")
    loaded = Dreamer.load(tmp_path / "model")
    assert loaded.policy.cnn_layout == "valid"
    for a, b in zip(model.policy.state_dict().values(), loaded.policy.state_dict().values(), strict=True):
        assert th.equal(a, b)
    with pytest.raises(ValueError, match="cnn_layout"):
        Dreamer("MlpPolicy", ActionRewardEnv(), **{**TINY, "policy_kwargs": {"cnn_layout": "same"}})


@pytest.mark.parametrize("algo", ALGOS)
def test_resume_continues_counters(tmp_path, algo):
    env = make_vec_env(lambda: ActionRewardEnv(length=7), n_envs=1, seed=0)
    model = algo("MlpPolicy", env, seed=0, **TINY).learn(200)
    updates = model._n_updates
    assert updates > 0
    model.save(tmp_path / "model")
    model.save_replay_buffer(tmp_path / "replay")
    loaded = algo.load(tmp_path / "model", env=env)
    loaded.load_replay_buffer(tmp_path / "replay")
    assert loaded.replay_buffer.size() == model.replay_buffer.size()
    loaded.learn(100, reset_num_timesteps=False)
    assert loaded.num_timesteps == 300
    assert loaded._n_updates == updates + 50


def test_train_ratio_from_sb3_arguments():
    model = Dreamer("MlpPolicy", "Pendulum-v1", batch_size=16, sequence_length=50, train_freq=2, gradient_steps=1)
    assert model.train_ratio == 16 * 50 / 2
    assert Dreamer("MlpPolicy", "Pendulum-v1").train_ratio == 50 * 50 / 4


class _UpdateLog(BaseCallback):
    """Before each step's collection: (policy steps, updates so far)."""

    def __init__(self):
        super().__init__()
        self.log = []

    def _on_rollout_start(self) -> None:
        self.log.append((self.model.num_timesteps, self.model._n_updates))

    def _on_step(self) -> bool:
        return True


@pytest.mark.parametrize(("ratio", "n_envs"), [(20.0, 1), (56.0, 1), (190.0, 2), (7.0, 2)])
def test_train_ratio_keeps_replayed_steps_within_one_update(ratio, n_envs):
    """``train_ratio``: at every step, the replayed steps since ``learning_starts`` lie within one update of
    ``train_ratio`` times the policy steps since then (one update every few steps, or several per step)."""
    kwargs = {**TINY, "learning_starts": 50}
    del kwargs["train_freq"]
    replayed_per_update = TINY["batch_size"] * TINY["sequence_length"]  # 80
    env = make_vec_env(lambda: ActionRewardEnv(), n_envs=n_envs)
    model = Dreamer("MlpPolicy", env, train_ratio=ratio, seed=0, **kwargs)
    assert model.train_ratio == ratio
    log = _UpdateLog()
    model.learn(150, callback=log)
    for steps, updates in [*log.log[1:], (model.num_timesteps, model._n_updates)]:
        target = ratio * max(steps - 50, 0)
        assert updates * replayed_per_update <= target < (updates + 1) * replayed_per_update, (steps, updates)
    assert model._n_updates == int(ratio * (model.num_timesteps - 50) // replayed_per_update) > 0


def test_train_ratio_or_sb3_schedule_not_both():
    with pytest.raises(ValueError, match="not both"):
        Dreamer("MlpPolicy", "Pendulum-v1", train_ratio=100, train_freq=2)
    with pytest.raises(ValueError, match="not both"):
        DreamerV2("MlpPolicy", "Pendulum-v1", train_ratio=100, gradient_steps=2)
    with pytest.raises(ValueError, match="positive"):
        Dreamer("MlpPolicy", "Pendulum-v1", train_ratio=0)

    class WithDefaultRatio(Dreamer):
        default_train_ratio = 512.0

    assert WithDefaultRatio("MlpPolicy", "Pendulum-v1").train_ratio == 512.0
    explicit = WithDefaultRatio("MlpPolicy", "Pendulum-v1", train_freq=5)  # an explicit SB3 schedule wins
    assert explicit.train_ratio == 50 * 50 / 5 and explicit._train_ratio is None


def test_logs_losses_and_world_model_pictures(tmp_path):
    model = Dreamer("CnnPolicy", _ImageEnv(16), seed=0, image_log_interval=5, tensorboard_log=str(tmp_path), **TINY)
    model.learn(200, log_interval=1)
    values = model.logger.name_to_value
    for key in ["reconstruction_loss", "reward_loss", "kl", "continue_loss", "actor_loss", "critic_loss", "actor_entropy"]:
        assert np.isfinite(values[f"train/{key}"]), key
    events = _events(tmp_path)
    image = events.Images("world_model/reconstruction_observation")[-1]
    assert (image.height, image.width) == (3 * 16, 8 * 16)  # truth / reconstruction / error, 8 frames
    # Open-loop video: 4 sequences in a 2 x 2 grid, each truth | prediction | error side by side.
    video = events.Images("world_model/open_loop_observation")[-1]
    assert (video.height, video.width) == (2 * 16, 2 * 3 * 16)
    assert video.encoded_image_string.startswith(b"GIF")
    frames = iio.imread(video.encoded_image_string, index=None)
    assert frames.shape == (10, 2 * 16, 2 * 3 * 16, 3)  # sequence_length frames
    assert len(events.Images("world_model/open_loop_observation")) == len(events.Images("world_model/open_loop_vectors"))
    scalars = {"train/kl", "train/train_ratio", "replay/bytes", "replay/capacity_bytes", "rollout/ep_rew_mean"}
    assert scalars <= set(events.Tags()["scalars"])


@pytest.mark.parametrize("algo", [Dreamer, DreamerV3])
def test_reconstruct_returns_the_observations_and_restarts_at_episode_starts(algo):
    """policy.reconstruct, what the pictures and benchmarks/reconstruct.py draw: the preprocessed observations
    (images back to [0, 1] with image_offset), reconstructions of every key in their shape, no gradient, and the
    model state restarted on the rows that start an episode."""
    model = algo("MultiInputPolicy", _ImageAndStateEnv(), seed=0, **TINY)
    policy, space = model.policy, model.policy.observation_space
    batch, length = 2, 6
    samples = [space.sample() for _ in range(batch * length)]
    raw = {
        key: th.as_tensor(np.stack([s[key] for s in samples]), device=model.device).reshape(batch, length, *space[key].shape)
        for key in space
    }
    model_actions = policy.to_model_action(np.stack([model.action_space.sample() for _ in range(batch * length)]))
    actions = th.as_tensor(model_actions, device=model.device).reshape(batch, length, -1)
    is_first = th.zeros(batch, length, dtype=th.bool, device=model.device)
    is_first[:, 0] = is_first[:, 3] = True
    obs, embed, posterior, reconstruction = policy.reconstruct(raw, actions, is_first)
    th.testing.assert_close(obs["image"] + policy.image_offset, raw["image"].float() / 255)
    th.testing.assert_close(obs["state"], raw["state"].float())
    assert embed.shape[:2] == (batch, length) and posterior.deter.shape[:2] == (batch, length)
    assert {key: value.shape for key, value in reconstruction.items()} == {key: value.shape for key, value in obs.items()}
    assert not any(value.requires_grad for value in reconstruction.values())
    # row 3 starts an episode: its recurrent state is that of a first row, whatever came before it
    tail = policy.reconstruct({key: value[:, 3:] for key, value in raw.items()}, actions[:, 3:], is_first[:, 3:])
    th.testing.assert_close(posterior.deter[:, 3], tail.posterior.deter[:, 0])
    carried = policy.reconstruct(raw, actions, is_first & (th.arange(length, device=model.device) == 0))
    assert not th.allclose(carried.posterior.deter[:, 3], tail.posterior.deter[:, 0])


def _events(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (run,) = log_dir.iterdir()
    events = EventAccumulator(str(run), size_guidance={"images": 0})
    events.Reload()
    return events


def test_open_loop_plot_of_vector_observations(tmp_path):
    """Dict observations: video for the image key, and a figure with one panel per vector dimension and the reward."""
    env = _ImageAndStateEnv()
    model = Dreamer("MultiInputPolicy", env, seed=0, image_log_interval=5, tensorboard_log=str(tmp_path), **TINY)
    model.learn(150, log_interval=1)
    events = _events(tmp_path)
    assert {"world_model/open_loop_image", "world_model/open_loop_vectors"} <= set(events.Tags()["images"])
    figure = iio.imread(events.Images("world_model/open_loop_vectors")[-1].encoded_image_string)
    panels = min(6, spaces.flatdim(env.observation_space["state"])) + 1
    assert figure.shape[0] == int(1.6 * panels * 100)  # 1.6 inches per panel at 100 dpi
    assert figure.std() > 0  # drawn, not blank


def test_no_pictures_without_tensorboard(monkeypatch):
    model = Dreamer("CnnPolicy", _ImageEnv(16), seed=0, image_log_interval=1, **TINY)
    monkeypatch.setattr(model, "_log_world_model_pictures", lambda batch: pytest.fail("pictures without TensorBoard"))
    model.learn(110)
    assert model._n_updates > 0


def test_logger_records_train_ratio(tmp_path):
    model = Dreamer("MlpPolicy", "Pendulum-v1", **TINY)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(104)
    assert model.logger.name_to_value["train/train_ratio"] == 8 * 10 / 2


def test_presets_are_not_mutated():
    policy_kwargs = dict(TINY["policy_kwargs"])
    model = Dreamer("MlpPolicy", ActionRewardEnv(), target_update_interval=10, **TINY)
    assert TINY["policy_kwargs"] == policy_kwargs and model.policy_kwargs is TINY["policy_kwargs"]
    assert model.policy.critic_target is not None


def test_target_critic_updates_on_schedule():
    """The slow critic is a hard copy of the critic every ``target_update_interval`` updates, and fixed between."""
    model = DreamerV2("MlpPolicy", ActionRewardEnv(length=7), seed=0, target_update_interval=3, **TINY)
    model.learn(110)  # fills the replay; a few updates
    critic, target = model.policy.critic, model.policy.critic_target
    snapshot = None
    for _ in range(7):
        model.train(gradient_steps=1, batch_size=8)
        same = all(th.equal(a, b) for a, b in zip(critic.parameters(), target.parameters(), strict=True))
        assert same == (model._n_updates % 3 == 0), model._n_updates
        if not same:
            assert snapshot is not None and all(th.equal(a, b) for a, b in zip(snapshot, target.parameters(), strict=True))
        snapshot = [p.clone() for p in target.parameters()]
    assert all(not p.requires_grad for p in target.parameters())


def test_actor_gradient_choice():
    assert DreamerV2("MlpPolicy", "CartPole-v1", **TINY).reinforce_mix == 1.0  # "auto": REINFORCE for Discrete
    assert DreamerV2("MlpPolicy", "Pendulum-v1", **TINY).reinforce_mix == 0.0  # dynamics for Box
    assert Dreamer("MlpPolicy", "CartPole-v1", **TINY).reinforce_mix == 0.0  # V1: dynamics (straight-through)
    assert Dreamer("MlpPolicy", "Pendulum-v1", actor_gradient=0.3, **TINY).reinforce_mix == 0.3
    with pytest.raises(ValueError, match="actor_gradient"):
        Dreamer("MlpPolicy", "Pendulum-v1", actor_gradient="score", **TINY)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Dreamer("MlpPolicy", "Pendulum-v1", actor_gradient=1.5, **TINY)


def test_reinforce_actor_loss_does_not_backpropagate_through_the_dynamics():
    """With rho = 1 the actor learns from log-probabilities times advantages: the world model's outputs
    enter only as constants, so a world-model parameter change does not move the actor's gradient path."""
    model = DreamerV2("MlpPolicy", "Pendulum-v1", actor_gradient="reinforce", **TINY)
    start = model.policy.world_model.rssm.initial_state(5, model.device)
    features, actions, log_probs, entropy = model._imagine(start, model.policy.actor)
    assert log_probs.shape == entropy.shape == (5, 5) and features.shape[0] == 6 and actions.shape == (5, 5, 1)
    grads = th.autograd.grad(log_probs.sum(), list(model.policy.actor.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # log q(a|s) at fixed actions: no path into the RSSM
    rssm_grads = th.autograd.grad(log_probs.sum(), list(model.policy.world_model.rssm.parameters()), allow_unused=True)
    assert all(g is None or g.abs().sum() == 0 for g in rssm_grads)
    # so, with the world model frozen as in training, the imagined states are not recorded for a backward pass;
    # any dynamics gradient (rho < 1) records them
    with frozen(model.policy.world_model):
        assert not model._imagine(start, model.policy.actor)[0].requires_grad
        model.reinforce_mix = 0.5
        assert model._imagine(start, model.policy.actor)[0].requires_grad


def test_v1_with_kl_balancing_and_categorical_latents():
    """The V2 components plug into Dreamer (V1) by argument, as one seed's V1/V2 mixes do."""
    model = Dreamer(
        "MlpPolicy",
        ActionRewardEnv(),
        kl_balance=0.8,
        policy_kwargs={**TINY["policy_kwargs"], "latent_classes": 8},
        **{k: v for k, v in TINY.items() if k != "policy_kwargs"},
    )
    model.learn(200)
    assert type(model.policy.world_model.rssm.latent).__name__ == "CategoricalLatent" and model._n_updates > 0


@pytest.mark.parametrize(
    ("algo", "preset", "policy", "env_id"),
    [
        (Dreamer, "SMALL_VECTOR", "MlpPolicy", "Pendulum-v1"),
        (DreamerV2, "DREAMERV2_SMALL_VECTOR", "MlpPolicy", "CartPole-v1"),
        (DreamerV2, "DREAMERV2_DMC", "CnnPolicy", "DMC/cartpole-swingup-pixels-v0"),
        (DreamerV2, "DREAMERV2_MINATAR", "CnnPolicy", "MinAtar/Breakout-image-v0"),
        (Dreamer, "SMALL_PIXELS", "CnnPolicy", "DMC/cartpole-balance-pixels-v0"),
        (DreamerV3, "DREAMERV3_SMALL_PIXELS", "CnnPolicy", "DMC/cartpole-balance-pixels-v0"),
    ],
)
def test_presets_build_and_update(algo, preset, policy, env_id):
    """Every preset makes a model (its sizes and components) that collects, takes one gradient update and acts;
    the batch is shrunk to keep the test fast."""
    from sb3_dreamer import presets

    if env_id.startswith("MinAtar"):
        pytest.importorskip("minatar")
    kwargs = {key: value for key, value in getattr(presets, preset).items() if key != "train_ratio"}
    quick = {"learning_starts": 40, "train_freq": 40, "gradient_steps": 1, "batch_size": 4, "sequence_length": 10}
    model = algo(policy, env_id, seed=0, **{**kwargs, **quick})
    model.learn(41)
    assert model._n_updates == 1
    obs = model.env.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert model.action_space.contains(action[0])


@pytest.mark.parametrize("algo", [Dreamer, DreamerV2, Plan2Explore])
def test_terminal_start_states_carry_no_weight(algo):
    """Imagination from a terminal posterior state lies beyond the episode's end: it gets weight 0 in the actor's
    and the critic's losses (DreamerV2 zeroes the first discount there). With the same random draws, whatever
    the terminal rows' start states are, the gradients stay the same; an all-terminal batch gives none."""
    model = algo("MlpPolicy", ActionRewardEnv(), seed=0, **TINY).learn(150)
    batch = model.replay_buffer.sample(4, sequence_length=6)
    posterior, _, _ = model._train_world_model(batch)
    terminal = th.zeros_like(batch.is_terminal)
    terminal[:2] = True  # the first two sequences end at every step
    start, weight = model._imagination_starts(posterior, terminal)
    assert th.equal(weight, (~terminal).float().reshape(-1))
    behavior = model.policy.behaviors()["task"]
    parameters = [*behavior.actor.parameters(), *behavior.critic.parameters()]

    def gradients(start, weight):
        th.manual_seed(1)
        before = [p.detach().clone() for p in parameters]
        model._train_behavior(start, weight, behavior, model._task_reward)
        grads = [p.grad.clone() for p in parameters]
        for p, value in zip(parameters, before, strict=True):
            p.data.copy_(value)  # undo the step: the next call starts from the same parameters
        return grads

    ended = ~weight.bool().unsqueeze(-1)
    moved = LatentState(th.where(ended, start.deter + 3.0, start.deter), th.where(ended, start.stoch.flip(0), start.stoch))
    kept = gradients(start, weight)
    for a, b in zip(kept, gradients(moved, weight), strict=True):
        assert th.allclose(a, b, rtol=1e-5, atol=1e-8)
    assert any(not th.allclose(a, b) for a, b in zip(kept, gradients(moved, th.ones_like(weight)), strict=True))
    assert all(g.abs().sum() == 0 for g in gradients(start, th.zeros_like(weight)))


def test_imagination_starts_draw_that_many_distinct_states_with_their_own_weights():
    """``imagination_starts=k`` (the CPU presets' 128-256) imagines from k of the batch's B x L posterior states,
    drawn without replacement, each with the weight of its own row: a terminal state keeps weight 0."""
    model = Dreamer("MlpPolicy", ActionRewardEnv(), seed=0, imagination_starts=7, **TINY)
    row = th.arange(24.0).reshape(4, 6, 1)  # B x L = 4 x 6 states, each tagged with its row number
    posterior = LatentState(row.expand(4, 6, 3), -row.expand(4, 6, 2))
    terminal = th.zeros(4, 6, dtype=th.bool)
    terminal[:2] = True  # rows 0-11 are terminal
    drawn = set()
    for _ in range(20):
        start, weight = model._imagination_starts(posterior, terminal)
        rows = start.deter[:, 0].long().tolist()
        assert len(set(rows)) == 7 and th.equal(start.stoch, -start.deter[:, :2])  # h and z of the same rows
        assert weight.tolist() == [0.0 if r < 12 else 1.0 for r in rows]
        drawn.update(rows)
    assert len(drawn) > 14  # a new draw each update, not the same seven rows
    model.imagination_starts = 24  # as many as the batch has: all of them, in order
    start, weight = model._imagination_starts(posterior, terminal)
    assert start.deter[:, 0].tolist() == list(range(24)) and th.equal(weight, (~terminal).float().reshape(-1))


def test_policy_kwargs_net_arch_per_network_and_their_refusals():
    """``net_arch`` as a dict sizes the networks it names and leaves the others at the policy's defaults;
    unknown keys and values of the policy's other arguments are refused when the model is built."""
    kwargs = {k: v for k, v in TINY.items() if k != "policy_kwargs"}
    small = {k: v for k, v in TINY["policy_kwargs"].items() if k != "net_arch"}
    model = Dreamer("MlpPolicy", "Pendulum-v1", policy_kwargs={**small, "net_arch": {"reward": [24, 12]}}, **kwargs)
    assert model.policy.arch == {**DEFAULT_NET_ARCH, "reward": [24, 12]}
    reward_model = model.policy.world_model.reward_model
    widths = [layer.out_features for layer in reward_model.modules() if isinstance(layer, th.nn.Linear)]
    assert widths[:2] == [24, 12]
    obs = th.as_tensor(model.env.reset(), dtype=th.float32, device=model.device)
    with th.no_grad():  # SB3's stateless entry point: one step from the initial state
        assert model.policy._predict(obs, deterministic=True).shape == (1, 1)
    for bad, message in [
        ({"net_arch": {"policy": [8]}}, "Unknown net_arch keys"),
        ({"norm": "batch"}, "norm must be one of"),
        ({"observation_loss": "l1"}, "observation_loss must be one of"),
        ({"features_extractor_kwargs": {"depth": 3}}, "Unknown features_extractor_kwargs"),
    ]:
        with pytest.raises(ValueError, match=message):
            Dreamer("MlpPolicy", "Pendulum-v1", policy_kwargs={**TINY["policy_kwargs"], **bad}, **kwargs)
