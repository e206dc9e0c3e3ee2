"""DreamerV3: "Mastering Diverse Domains through World Models", Hafner, Pasukonis, Ba, Lillicrap, 2023.

https://arxiv.org/abs/2301.04104v1 (the 2023 arXiv version; docs/dreamer_v3.md lists where the 2025 Nature
version differs and what this implementation follows)
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule

from sb3_dreamer.dreamer.dreamer import Dreamer
from sb3_dreamer.dreamer_v3.policies import SIZES, CnnPolicy, DreamerV3Policy, MlpPolicy, MultiInputPolicy, size_policy_kwargs

SelfDreamerV3 = TypeVar("SelfDreamerV3", bound="DreamerV3")


class DreamerV3(Dreamer):
    """
    DreamerV3: Dreamer with one set of hyperparameters for vectors and pixels, discrete and continuous actions,
    dense and sparse rewards; only the model ``size`` and the ``train_ratio`` change between domains.

    It is :class:`~sb3_dreamer.Dreamer`'s training loop with DreamerV3's components: symlog inputs and
    reconstructions, two-hot reward and value predictions, 1% unimix categorical latents and actions, dynamics and
    representation KL losses with free bits per step, LayerNorm and SiLU everywhere, returns normalised by their
    5th-95th percentile range, and a critic regularised towards its EMA copy.

    Paper: https://arxiv.org/abs/2301.04104v1 (the 2023 arXiv version, Appendix B for the hyperparameters).
    Defaults are the paper's: batch 16 x 64, train ratio 512 (its proprioceptive and visual control setting),
    learning rates 1e-4 (world model) and 3e-5 (actor, critic), Adam epsilon 1e-8 and 1e-5, gradient clipping
    1000 and 100, discount 0.997, lambda 0.95, horizon 15, entropy scale 3e-4.

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy, ...)
    :param env: the environment to learn from (if registered in Gym, can be str)
    :param size: the model size of the paper's Table B.1, ``"XS"``, ``"S"``, ``"M"``, ``"L"`` or ``"XL"``, or our CPU size
        ``"XXS"`` (:data:`~sb3_dreamer.dreamer_v3.policies.SIZES`); ``policy_kwargs`` override its entries
    :param learning_rate: world-model learning rate, a constant or a schedule of the remaining progress
    :param actor_learning_rate: actor learning rate, a constant or a schedule
    :param critic_learning_rate: critic learning rate, a constant or a schedule
    :param buffer_size: replay capacity in stored observations (rows), shared by the environments
    :param learning_starts: policy steps of uniformly random actions before learning starts (one batch of data)
    :param batch_size: number of sequences per gradient update (B)
    :param sequence_length: length of each replayed sequence (L)
    :param train_freq: update the model every ``train_freq`` steps (or episodes, as ``(n, "episode")``); with
        ``gradient_steps``, instead of ``train_ratio``
    :param gradient_steps: gradient updates after each rollout (-1: as many as steps collected)
    :param train_ratio: replayed steps per policy step (``gradient_steps * batch_size * sequence_length /
        (train_freq * n_envs)``); None with ``train_freq`` and ``gradient_steps`` also None: the paper's 512
    :param gamma: discount factor (``1 - 1 / 333`` in the paper's code)
    :param td_lambda: lambda of the lambda-returns
    :param imagination_horizon: length H of imagined trajectories
    :param imagination_starts: number of posterior states, drawn at random from the B x L of the batch,
        that imagination starts from; None (the paper) starts from all of them
    :param free_nats: free bits: the dynamics and representation losses of each time step are clipped below
        this many nats (1 in the paper)
    :param dynamics_scale: weight of the dynamics loss ``max(1, KL(sg(q) || p))``, which trains the prior (beta_dyn)
    :param representation_scale: weight of the representation loss ``max(1, KL(q || sg(p)))``, which regularises
        the posterior (beta_rep)
    :param continue_scale: weight of the ContinueModel's loss in the world-model loss
    :param imagined_continue: what discounts an imagined step besides ``gamma``: the ContinueModel's probability that
        the episode goes on (``"probability"``, as the 2025 code and Dreamer V1, V2 do; every benchmark row was
        measured with it) or its mode, 0 or 1 (``"mode"``, the authors' 2023 code; docs/dreamer_v3.md)
    :param actor_gradient: ``"auto"`` (the paper: REINFORCE for discrete actions, backpropagation through the
        dynamics for continuous ones), ``"dynamics"``, ``"reinforce"`` or a mix rho in [0, 1]
    :param actor_entropy_coef: entropy scale eta of the actor (3e-4), against normalised returns
    :param max_grad_norm: gradient-norm clip of the actor and critic optimizers (100)
    :param model_max_grad_norm: gradient-norm clip of the world-model optimizer (1000)
    :param exploration_noise: std of Gaussian noise on Box actions, or the probability of a random Discrete
        action; 0 in DreamerV3, which explores by sampling its stochastic actor
    :param target_update_interval: update the critic's slow copy every this many gradient updates (1)
    :param tau: the slow copy's EMA rate: ``slow <- (1 - tau) slow + tau critic`` (0.02)
    :param target_critic_regularizer: weight of the critic's regulariser ``-ln p(v_slow(s))`` towards its slow copy's
        predictions (1); the lambda-returns bootstrap from the critic itself
    :param replay_critic_scale: weight of the critic's loss on lambda-returns along the replayed sequences,
        bootstrapped from the imagined return of each replayed state (the 2025 version's replayed-value loss, 0.3
        there; see :class:`~sb3_dreamer.Dreamer`); 0 follows the 2023 version
    :param image_log_interval: every this many gradient updates, log pictures of the world model to
        TensorBoard: reconstructions and open-loop prediction videos of image observations, a plot of open-loop
        predicted against true vector observations and rewards (0 disables; only when TensorBoard logs)
    :param precision: ``"32"`` (float32 throughout), ``"bf16-mixed"`` (the world model and imagination under
        bfloat16 autocast; heads' outputs, recurrent states, parameters and losses in float32) or ``"auto"``
        (bf16-mixed where bf16 is native, float32 elsewhere), as in :class:`~sb3_dreamer.Dreamer`
    :param activation_checkpointing: recompute the activations of imagination in the backward pass instead of
        storing them (the random draws replayed, so the updates are the same)
    :param imagination_chunks: imagine the start states in this many chunks, backpropagating each chunk's share of
        the actor and critic losses before imagining the next: the same updates, a chunk's activations in memory
    :param world_model_chunks: run the encoder and the decoder over the batch's sequences in this many chunks:
        each chunk's reconstruction loss is backpropagated into the decoder and the model states before the next
        chunk is decoded, and the encoder's activations are recomputed chunk by chunk in the backward pass
        (``torch.utils.checkpoint``): the same gradients, with a chunk's encoder and decoder activations in memory
        instead of the whole batch's (from pixels, most of the world model's), for one more encoder forward pass
    :param replay_buffer_class: replay buffer class (a :class:`~sb3_dreamer.SequenceReplayBuffer`)
    :param replay_buffer_kwargs: keyword arguments of the replay buffer
    :param policy_kwargs: additional arguments for the policy on creation (see :class:`DreamerV3Policy`), over
        those of ``size``
    :param stats_window_size: window size for the rollout logging (episodes)
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param verbose: 0 no output, 1 info messages, 2 debug messages
    :param seed: seed for the pseudo random generators
    :param device: device (cpu, cuda, ...) on which the code should be run
    :param _init_setup_model: whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    #: the paper's train ratio for proprioceptive and visual control (Appendix B; Atari 100k: 1024, Atari: 64)
    default_train_ratio: ClassVar[float | None] = 512.0
    policy: DreamerV3Policy

    def __init__(
        self,
        policy: str | type[DreamerV3Policy],
        env: GymEnv | str,
        size: str = "S",
        learning_rate: float | Schedule = 1e-4,
        actor_learning_rate: float | Schedule = 3e-5,
        critic_learning_rate: float | Schedule = 3e-5,
        buffer_size: int = 1_000_000,
        learning_starts: int = 1024,
        batch_size: int = 16,
        sequence_length: int = 64,
        train_freq: int | tuple[int, str] | None = None,
        gradient_steps: int | None = None,
        train_ratio: float | None = None,
        gamma: float = 0.997,
        td_lambda: float = 0.95,
        imagination_horizon: int = 15,
        imagination_starts: int | None = None,
        free_nats: float = 1.0,
        dynamics_scale: float = 0.5,
        representation_scale: float = 0.1,
        continue_scale: float = 1.0,
        imagined_continue: str = "probability",
        actor_gradient: str | float = "auto",
        actor_entropy_coef: float = 3e-4,
        max_grad_norm: float = 100.0,
        model_max_grad_norm: float = 1000.0,
        exploration_noise: float = 0.0,
        target_update_interval: int = 1,
        tau: float = 0.02,
        target_critic_regularizer: float = 1.0,
        replay_critic_scale: float = 0.0,
        image_log_interval: int = 1000,
        precision: str = "32",
        activation_checkpointing: bool = False,
        imagination_chunks: int = 1,
        world_model_chunks: int = 1,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        if size not in SIZES:
            raise ValueError(f"size must be one of {list(SIZES)}, got {size!r}.")
        if dynamics_scale <= 0 or representation_scale < 0:
            raise ValueError(
                f"dynamics_scale must be positive and representation_scale non-negative, got {dynamics_scale}, "
                f"{representation_scale}."
            )
        self.size = size
        self.dynamics_scale = dynamics_scale
        self.representation_scale = representation_scale
        kl_scale = dynamics_scale + representation_scale
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            actor_learning_rate=actor_learning_rate,
            critic_learning_rate=critic_learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            sequence_length=sequence_length,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            train_ratio=train_ratio,
            gamma=gamma,
            td_lambda=td_lambda,
            imagination_horizon=imagination_horizon,
            imagination_starts=imagination_starts,
            free_nats=free_nats,
            free_nats_per_step=True,
            kl_scale=kl_scale,  # beta_dyn KL(sg(q) || p) + beta_rep KL(q || sg(p)) as balancing with
            kl_balance=dynamics_scale / kl_scale,  # alpha = beta_dyn / (beta_dyn + beta_rep)
            continue_scale=continue_scale,
            imagined_continue=imagined_continue,
            actor_gradient=actor_gradient,
            actor_entropy_coef=actor_entropy_coef,
            max_grad_norm=max_grad_norm,
            model_max_grad_norm=model_max_grad_norm,
            exploration_noise=exploration_noise,
            target_update_interval=target_update_interval,
            tau=tau,
            target_critic_regularizer=target_critic_regularizer,
            replay_critic_scale=replay_critic_scale,
            image_log_interval=image_log_interval,
            precision=precision,
            activation_checkpointing=activation_checkpointing,
            imagination_chunks=imagination_chunks,
            world_model_chunks=world_model_chunks,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    def _build_policy_kwargs(self, policy_kwargs: dict[str, Any]) -> dict[str, Any]:
        """The size's networks (Table B.1), under the caller's ``policy_kwargs``."""
        return super()._build_policy_kwargs({**size_policy_kwargs(self.size), **policy_kwargs})

    def learn(
        self: SelfDreamerV3,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "DreamerV3",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfDreamerV3:
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)
