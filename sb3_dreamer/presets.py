"""Ready-made argument sets for :class:`~sb3_dreamer.Dreamer`.

The paper's sizes (deterministic 200, stochastic 30, 400-unit heads, batch 50 x 50) cost about 5 s per
gradient update on a 2-core CPU. Small vector tasks such as Pendulum-v1 learn with a much smaller model.
"""

from typing import Any

from torch import nn

#: Small model for low-dimensional vector tasks (Pendulum-v1, CartPole-v1, DMC proprioception):
#: ``Dreamer("MlpPolicy", env, **SMALL_VECTOR)``. Train ratio 16 * 50 / 2 = 400 replayed steps per policy step.
SMALL_VECTOR: dict[str, Any] = dict(
    batch_size=16,
    sequence_length=50,
    train_freq=2,
    gradient_steps=1,
    imagination_starts=200,
    learning_starts=1000,
    target_update_interval=100,
    image_log_interval=0,
    policy_kwargs=dict(
        deterministic_size=128,
        stochastic_size=16,
        hidden_size=128,
        net_arch=[128, 128],
        activation_fn=nn.ELU,
    ),
)
