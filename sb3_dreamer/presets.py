"""Ready-made argument sets for :class:`~sb3_dreamer.Dreamer`, :class:`~sb3_dreamer.DreamerV2` and
:class:`~sb3_dreamer.DreamerV3`.

The paper's sizes (deterministic 200, stochastic 30, 400-unit heads, batch 50 x 50) cost about 5 s per
gradient update on a 2-core CPU. Small vector tasks such as Pendulum-v1 learn with a much smaller model.
"""

from typing import Any

from torch import nn

#: Small model for low-dimensional vector tasks (Pendulum-v1 and the like):
#: ``Dreamer("MlpPolicy", env, **SMALL_VECTOR)``. An update (about 0.14 s on one CPU core) every 3 policy
#: steps: train ratio 16 * 50 / 3 = 267 replayed steps per policy step. Departures from the paper's
#: defaults, each for learning within 20k steps: 1 free nat instead of 3 (the KL of this small latent
#: stays below 3 nats, where the clip would leave the prior untrained), faster actor and critic (3e-4), a slow target critic,
#: a narrower initial action spread (std 1 before the tanh) and an entropy bonus, both against the actor
#: locking onto saturated actions, where the tanh passes no gradient.
SMALL_VECTOR: dict[str, Any] = dict(
    batch_size=16,
    sequence_length=50,
    train_freq=3,
    gradient_steps=1,
    learning_starts=1000,
    imagination_starts=200,
    actor_learning_rate=3e-4,
    critic_learning_rate=3e-4,
    actor_entropy_coef=1e-2,
    free_nats=1.0,
    target_update_interval=100,
    policy_kwargs=dict(
        deterministic_size=128,
        stochastic_size=16,
        hidden_size=128,
        net_arch=[128, 128],
        activation_fn=nn.ELU,
        actor_init_std=1.0,
    ),
)

#: Small Dreamer for DeepMind Control from 64 x 64 pixels on one CPU core (DMC cartpole-balance at 100k env steps
#: in under 4 hours): :data:`SMALL_VECTOR`'s learning settings with a CNN of depth 16 and 128-unit layers, batch
#: 16 x 50, imagination of 30 steps from 256 posterior states, a 5000-frame prefill (2500 policy steps at action
#: repeat 2) and train ratio 128 (an update of 800 replayed steps every 6.25 policy steps), in ``"auto"`` precision
#: (bf16 where the CPU runs it natively). On cartpole-balance it scored 591.2 over 3 seeds at 100k env steps and
#: 561.1, 579.8 and 608.3 on three that nothing was chosen on, about 190 minutes a seed on one AVX512 core with native
#: bf16; with the paper's 15-step imagination it scored 511.0 on seeds 0-2 and 441.1 on seeds 3-5. On walker-walk (seed 0) the
#: 30 steps scored 270.4 against 361.4 at 15: there ``imagination_horizon=15`` is better (docs/benchmarks.md).
#: On an AVX2 core without native bf16, an update takes about 2.6 s in float32 (measured at 15 imagined steps),
#: about 6 hours of updates for the same 100k env steps: beyond the 4 hours there.
#: ``Dreamer("CnnPolicy", "DMC/cartpole-balance-pixels-v0", **SMALL_PIXELS)``.
SMALL_PIXELS: dict[str, Any] = {
    **{key: value for key, value in SMALL_VECTOR.items() if key not in ("train_freq", "gradient_steps")},
    "train_ratio": 128,
    "learning_starts": 2500,
    "imagination_horizon": 30,
    "imagination_starts": 256,
    "precision": "auto",
    "policy_kwargs": {**SMALL_VECTOR["policy_kwargs"], "cnn_depth": 16},
}

#: Tiny networks and an early start, for smoke checks of a whole pipeline (examples' ``--tiny``, tests):
#: trains within seconds and learns nothing useful.
TINY: dict[str, Any] = dict(
    batch_size=8,
    sequence_length=10,
    learning_starts=100,
    train_freq=2,
    imagination_horizon=5,
    policy_kwargs=dict(deterministic_size=16, stochastic_size=4, hidden_size=16, net_arch=[16], cnn_depth=4),
)

#: DreamerV2's DeepMind Control settings (``DreamerV2``'s defaults are its Atari ones): world model 3e-4,
#: actor and critic 8e-5, free nats 1, KL scale 1, entropy 1e-4, gamma 0.99, no discount predictor (DMC
#: never terminates), GRU and hidden layers of 200 units, CNN depth 32, a 5000-frame prefill (2500 steps
#: at action repeat 2), an update every 5 steps as in Dreamer V1. Continuous actions learn by dynamics
#: backpropagation (``actor_gradient="auto"``). ``DreamerV2("CnnPolicy", env, **DREAMERV2_DMC)``.
DREAMERV2_DMC: dict[str, Any] = dict(
    learning_rate=3e-4,
    actor_learning_rate=8e-5,
    critic_learning_rate=8e-5,
    learning_starts=2500,
    train_freq=5,
    gamma=0.99,
    free_nats=1.0,
    kl_scale=1.0,
    continue_scale=1.0,
    actor_entropy_coef=1e-4,
    policy_kwargs=dict(deterministic_size=200, hidden_size=200, cnn_depth=32, continue_model=False),
)

#: The DreamerV2 MinAtar seed's hyperparameters (RajGhugare19/dreamerv2, ``MinAtarConfig``) under our names
#: (docs/dreamer_v2.md has the mapping): 5 updates of 50 x 50 every 50 steps (train ratio 250), 4000 seed
#: steps, horizon 10, KL scale 0.1 balanced 0.8 without free nats, discount-loss scale 5, 20 categorical
#: variables of 20 classes, GRU and RSSM layers of 200 units, a 200-unit image embedding, CNN depth 16
#: (3x3 convolutions on the 10x10 grid), 3 x 100-unit heads. ``DreamerV2("CnnPolicy", env, **DREAMERV2_MINATAR)``.
DREAMERV2_MINATAR: dict[str, Any] = dict(
    learning_rate=2e-4,
    actor_learning_rate=4e-5,
    critic_learning_rate=1e-4,
    learning_starts=4000,
    batch_size=50,
    sequence_length=50,
    train_freq=50,
    gradient_steps=5,
    gamma=0.99,
    imagination_horizon=10,
    free_nats=0.0,
    kl_scale=0.1,
    kl_balance=0.8,
    continue_scale=5.0,
    actor_entropy_coef=1e-3,
    target_update_interval=100,
    policy_kwargs=dict(
        deterministic_size=200,
        stochastic_size=20,
        latent_classes=20,
        hidden_size=200,
        cnn_depth=16,
        features_extractor_kwargs=dict(cnn_output_dim=200),
        net_arch=[100, 100, 100],
    ),
)

#: Small DreamerV2 for low-dimensional vector tasks (CartPole-v1 and the like), the counterpart of
#: :data:`SMALL_VECTOR`: 16 categorical variables of 16 classes, 128-unit layers, an update of 16 x 50 every 3
#: steps (train ratio 267) imagining from 128 posterior states. Faster learning rates than the paper's
#: Atari ones and gamma 0.99, for learning within 30k steps; an entropy bonus of 1e-2 (the paper's 1e-3 is
#: small next to CartPole's advantages, of the order of its unclipped returns) against the policy collapsing
#: between evaluations (docs/benchmarks.md has both runs).
DREAMERV2_SMALL_VECTOR: dict[str, Any] = dict(
    learning_rate=6e-4,
    actor_learning_rate=1e-4,
    critic_learning_rate=3e-4,
    learning_starts=1000,
    batch_size=16,
    sequence_length=50,
    train_freq=3,
    gamma=0.99,
    imagination_starts=128,
    free_nats=1.0,
    kl_scale=1.0,
    actor_entropy_coef=1e-2,
    policy_kwargs=dict(
        deterministic_size=128,
        stochastic_size=16,
        latent_classes=16,
        hidden_size=128,
        net_arch=[128, 128],
    ),
)

#: DreamerV3 for low-dimensional vector tasks with discrete actions on a CPU (CartPole-v1): DreamerV3 keeps the 2023
#: paper's hyperparameters everywhere and changes only the model size and the train ratio. Our size XXS (an update of
#: 16 x 64 in about 0.8 s on one CPU core in float32, 0.6 s in bf16, against 3.3 s at XS) and the paper's train ratio
#: for bsuite's cartpole, 128: one update every 8 policy steps. Every DreamerV3 preset computes in ``"auto"``
#: precision: bfloat16 autocast where the device runs it natively (as the authors' code computes), float32 elsewhere.
#: ``DreamerV3("MlpPolicy", env, **DREAMERV3_SMALL_VECTOR)``.
DREAMERV3_SMALL_VECTOR: dict[str, Any] = dict(size="XXS", train_ratio=128, precision="auto")

#: DreamerV3 for continuous control from low-dimensional vectors on a CPU (Pendulum-v1): size XXS at the paper's train
#: ratio for proprioceptive control, 512 (one update of 16 x 64 every 2 policy steps). On Pendulum-v1 every seed held
#: from half of 20k policy steps on, in about 100 minutes on one core, where ratio 128 let one seed swing between
#: -329 and -578 (docs/benchmarks.md). ``DreamerV3("MlpPolicy", env, **DREAMERV3_SMALL_CONTINUOUS)``.
DREAMERV3_SMALL_CONTINUOUS: dict[str, Any] = dict(size="XXS", train_ratio=512, precision="auto")

#: DreamerV3 for DeepMind Control from 64 x 64 pixels on a CPU: size XXS and train ratio 128, as for vectors. An update
#: of 16 x 64 images takes about 1.75 s in bf16 (2.7 s in float32; 4.7 s in float32 on an AVX2 core), one every 8
#: policy steps, and rendering a frame 15-40 ms: at the pace measured on one core with native bf16, 100k env steps
#: (50k policy steps) take 4.3-4.9 hours per seed. The world model had not learned to draw the pole after 4,250
#: updates (docs/benchmarks.md); on a CPU, Dreamer's :data:`SMALL_PIXELS` is the preset that learns from pixels within
#: such a budget.
#: ``DreamerV3("CnnPolicy", env, **DREAMERV3_SMALL_PIXELS)``.
DREAMERV3_SMALL_PIXELS: dict[str, Any] = dict(size="XXS", train_ratio=128, precision="auto")

#: DreamerV3 for DeepMind Control from pixels or proprioception: the paper's size S and train ratio 512 (one update of
#: 16 x 64 every 2 policy steps). ``DreamerV3("CnnPolicy", env, **DREAMERV3_DMC)``.
DREAMERV3_DMC: dict[str, Any] = dict(size="S", train_ratio=512, precision="auto")

#: DreamerV3 for MinAtar on a CPU: size XXS, train ratio 128, as for vector tasks (the paper did not run MinAtar); an
#: update of 16 x 64 frames takes about 0.6 s in bf16 (0.85 s in float32).
#: ``DreamerV3("CnnPolicy", env, **DREAMERV3_MINATAR)``.
DREAMERV3_MINATAR: dict[str, Any] = dict(size="XXS", train_ratio=128, precision="auto")
