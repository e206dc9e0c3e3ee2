"""Policies of :class:`~sb3_dreamer.DreamerV2`: :class:`DreamerPolicy` with DreamerV2's sizes (Appendix C,
Table C.1 for Atari): 32 categorical variables of 32 classes, GRU and hidden layers of 600 units, MLPs of
4 x 400 units and a CNN of depth 48."""

from __future__ import annotations

from typing import Any, ClassVar

from gymnasium import spaces
from stable_baselines3.common.type_aliases import Schedule

from sb3_dreamer.common.policies import DEFAULT_NET_ARCH, DreamerPolicy

#: DreamerV2's MLPs: 4 layers of 400 units for every head
V2_NET_ARCH: dict[str, list[int]] = {key: [400] * 4 for key in DEFAULT_NET_ARCH}


class DreamerV2Policy(DreamerPolicy):
    """:class:`DreamerPolicy` with DreamerV2's defaults; every argument is :class:`DreamerPolicy`'s."""

    default_net_arch: ClassVar[dict[str, list[int]]] = V2_NET_ARCH

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        deterministic_size: int = 600,
        stochastic_size: int = 32,
        latent_classes: int | None = 32,
        hidden_size: int = 600,
        cnn_depth: int = 48,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            deterministic_size=deterministic_size,
            stochastic_size=stochastic_size,
            latent_classes=latent_classes,
            hidden_size=hidden_size,
            cnn_depth=cnn_depth,
            **kwargs,
        )


class MlpPolicy(DreamerV2Policy):
    """DreamerV2 policy for vector observations (images, if given, are flattened)."""

    image_mode = "never"


class CnnPolicy(DreamerV2Policy):
    """DreamerV2 policy for image observations (uint8, channel-first or channel-last)."""

    image_mode = "required"


class MultiInputPolicy(DreamerV2Policy):
    """DreamerV2 policy for Dict observations: a CNN for each image key, an MLP for each other key."""

    image_mode = "auto"
