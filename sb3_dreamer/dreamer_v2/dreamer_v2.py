"""DreamerV2: "Mastering Atari with Discrete World Models", Hafner, Lillicrap, Norouzi, Ba, ICLR 2021.

https://arxiv.org/abs/2010.02193
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule

from sb3_dreamer.dreamer.dreamer import Dreamer
from sb3_dreamer.dreamer_v2.policies import CnnPolicy, DreamerV2Policy, MlpPolicy, MultiInputPolicy

SelfDreamerV2 = TypeVar("SelfDreamerV2", bound="DreamerV2")


class DreamerV2(Dreamer):
    """
    DreamerV2: Dreamer with categorical latents, KL balancing, REINFORCE gradients for discrete actions,
    an entropy bonus and a slow target critic. The training loop is :class:`Dreamer`'s; what differs is
    components (:class:`~sb3_dreamer.common.rssm.CategoricalLatent`, ``kl_balance``, ``actor_gradient``) and
    defaults. The defaults are the paper's for Atari (Appendix C, Table C.1), with one policy step per
    agent step (the paper's action repeat 4 belongs to the environment); ``sb3_dreamer.presets.DREAMERV2_DMC``
    holds its DeepMind Control settings.

    Paper: https://arxiv.org/abs/2010.02193

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy, ...)
    :param env: the environment to learn from (if registered in Gym, can be str)
    :param learning_rate: world-model learning rate, a constant or a schedule of the remaining progress
    :param actor_learning_rate: actor learning rate, a constant or a schedule
    :param critic_learning_rate: critic learning rate, a constant or a schedule
    :param buffer_size: replay capacity in stored observations (rows), shared by the environments
    :param learning_starts: policy steps of uniformly random actions before learning starts (the paper's
        50k prefill frames at action repeat 4)
    :param batch_size: number of sequences per gradient update (B)
    :param sequence_length: length of each replayed sequence (L)
    :param train_freq: update the model every ``train_freq`` steps (None: 4, the paper's every 16 frames; or
        every step when training follows ``train_ratio``)
    :param gradient_steps: gradient updates after each rollout (-1: as many as steps collected); None: 1
    :param train_ratio: replayed steps per policy step, instead of ``train_freq`` and ``gradient_steps``
        (see :class:`~sb3_dreamer.Dreamer`); the paper's is 16 x 50 / 4 = 200
    :param gamma: discount factor (0.999 for Atari)
    :param td_lambda: lambda of the lambda-returns (Eq. 4)
    :param imagination_horizon: length H of imagined trajectories
    :param imagination_starts: number of posterior states, drawn at random from the B x L of the batch,
        that imagination starts from; None (the paper) starts from all of them
    :param free_nats: KL below this many nats is not penalised (0 for Atari, 1 for DMC)
    :param kl_scale: weight of the KL term (beta: 0.1 for Atari, 1 for DMC)
    :param kl_balance: fraction of the KL gradient that trains the prior (alpha, Algorithm 2); the posterior
        gets the rest; None trains both with the plain KL
    :param continue_scale: weight of the discount predictor's (ContinueModel's) loss (5 for Atari)
    :param actor_gradient: ``"auto"`` (REINFORCE for Discrete actions, dynamics backpropagation for Box,
        as in the paper), ``"reinforce"``, ``"dynamics"`` or the mix rho in [0, 1] of Eq. 6
    :param actor_entropy_coef: weight eta of the actor's entropy (Eq. 6; 1e-3 for Atari, 1e-4 for DMC)
    :param max_grad_norm: gradient-norm clip of all three optimizers
    :param exploration_noise: std of Gaussian noise on Box actions, or the probability of a random Discrete
        action; 0 in DreamerV2, which explores by sampling its stochastic actor
    :param target_update_interval: copy the critic into the slow target critic every this many gradient
        updates (100 in the paper); 0 uses the critic itself
    :param image_log_interval: every this many gradient updates, log pictures of the world model to
        TensorBoard: reconstructions and open-loop prediction videos of image observations, a plot of open-loop
        predicted against true vector observations and rewards (0 disables; only when TensorBoard logs)
    :param precision: ``"32"`` (float32 throughout), ``"bf16-mixed"`` or ``"auto"``. With bf16-mixed the world
        model and imagination run under bfloat16 autocast (matrix products and activations in bf16; parameters,
        optimizer states, recurrent states, heads' outputs and losses in float32); acting stays in float32.
        Measured at the paper's sizes on a CPU with native bf16 (AVX512_BF16): 2.2x faster proprioceptive and
        2.1x faster pixel updates, 14% lower peak memory; on an AVX2-only CPU, which emulates bf16, about 11x
        slower (a warning says so). ``"auto"`` takes bf16-mixed where bf16 is native (CUDA with bf16, CPUs with
        AVX512_BF16 or AMX) and float32 elsewhere (:func:`~sb3_dreamer.common.precision.resolve_precision`)
    :param activation_checkpointing: recompute the activations of imagination (each imagined step, the reward,
        continue and value heads) in the backward pass instead of storing them (``torch.utils.checkpoint``, with
        the random draws replayed, so the updates are the same); measured with bf16-mixed: 16% lower peak
        memory, a fifth more time per update
    :param imagination_chunks: imagine the start states in this many chunks, backpropagating each chunk's
        share of the actor and critic losses before imagining the next: the same gradients and updates (up to
        the order of the random draws), with a chunk's activations in memory instead of the whole batch's;
        measured with bf16-mixed and 4 chunks: 40% lower peak memory, no slower
    :param world_model_chunks: run the encoder and the decoder over the batch's sequences in this many chunks:
        each chunk's reconstruction loss is backpropagated into the decoder and the model states before the next
        chunk is decoded, and the encoder's activations are recomputed chunk by chunk in the backward pass
        (``torch.utils.checkpoint``): the same gradients, with a chunk's encoder and decoder activations in memory
        instead of the whole batch's (from pixels, most of the world model's), for one more encoder forward pass
    :param replay_buffer_class: replay buffer class (a :class:`~sb3_dreamer.SequenceReplayBuffer`)
    :param replay_buffer_kwargs: keyword arguments of the replay buffer
    :param policy_kwargs: additional arguments for the policy on creation (see :class:`DreamerV2Policy`)
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
    policy: DreamerV2Policy

    def __init__(
        self,
        policy: str | type[DreamerV2Policy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 2e-4,
        actor_learning_rate: float | Schedule = 4e-5,
        critic_learning_rate: float | Schedule = 1e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 12_500,
        batch_size: int = 16,
        sequence_length: int = 50,
        train_freq: int | tuple[int, str] | None = None,
        gradient_steps: int | None = None,
        train_ratio: float | None = None,
        gamma: float = 0.999,
        td_lambda: float = 0.95,
        imagination_horizon: int = 15,
        imagination_starts: int | None = None,
        free_nats: float = 0.0,
        kl_scale: float = 0.1,
        kl_balance: float | None = 0.8,
        continue_scale: float = 5.0,
        actor_gradient: str | float = "auto",
        actor_entropy_coef: float = 1e-3,
        max_grad_norm: float = 100.0,
        exploration_noise: float = 0.0,
        target_update_interval: int = 100,
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
            kl_scale=kl_scale,
            kl_balance=kl_balance,
            continue_scale=continue_scale,
            actor_gradient=actor_gradient,
            actor_entropy_coef=actor_entropy_coef,
            max_grad_norm=max_grad_norm,
            exploration_noise=exploration_noise,
            target_update_interval=target_update_interval,
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

    def learn(
        self: SelfDreamerV2,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "DreamerV2",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfDreamerV2:
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)
