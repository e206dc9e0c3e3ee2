"""Ready-made argument sets for :class:`~sb3_dreamer.Dreamer`.

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
    image_log_interval=0,
    policy_kwargs=dict(
        deterministic_size=128,
        stochastic_size=16,
        hidden_size=128,
        net_arch=[128, 128],
        activation_fn=nn.ELU,
        actor_init_std=1.0,
    ),
)

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
