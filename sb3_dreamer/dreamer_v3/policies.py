"""Policies of :class:`~sb3_dreamer.DreamerV3`: :class:`DreamerPolicy` with DreamerV3's components (Hafner et al.,
2023, https://arxiv.org/abs/2301.04104v1, and its Appendix B): 32 categorical variables of 32 classes mixed
with 1% uniform, LayerNorm and SiLU in every MLP, CNN and the GRU, symlog vector inputs and reconstructions, two-hot
reward and value heads that start at zero, and the percentile return normaliser. The network sizes are the
paper's Table B.1 (:data:`SIZES`); the class defaults are size S."""

from __future__ import annotations

from typing import Any, ClassVar

from gymnasium import spaces
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from sb3_dreamer.common.policies import DEFAULT_NET_ARCH, DreamerPolicy

#: DreamerV3's model sizes: Table B.1 of the paper, ``XS`` to ``XL``, all with 32 categorical variables of 32
#: classes: the GRU's units, the width of every dense layer, the number of hidden layers of every MLP (encoder,
#: decoder, reward, continue, actor, critic) and the CNN's multiplier (channels of its first layer, doubled at each
#: of the four). ``XXS`` is ours for CPU runs: XS halved, with 16 x 16 latents (an update of 16 x 64 takes about a
#: quarter of XS's time on one CPU core; docs/dreamer_v3.md has the measurements).
SIZES: dict[str, dict[str, int]] = {
    "XXS": dict(deterministic_size=128, hidden_size=128, layers=1, units=128, cnn_depth=16, stochastic_size=16, classes=16),
    "XS": dict(deterministic_size=256, hidden_size=256, layers=1, units=256, cnn_depth=24, stochastic_size=32, classes=32),
    "S": dict(deterministic_size=512, hidden_size=512, layers=2, units=512, cnn_depth=32, stochastic_size=32, classes=32),
    "M": dict(deterministic_size=1024, hidden_size=640, layers=3, units=640, cnn_depth=48, stochastic_size=32, classes=32),
    "L": dict(deterministic_size=2048, hidden_size=768, layers=4, units=768, cnn_depth=64, stochastic_size=32, classes=32),
    "XL": dict(deterministic_size=4096, hidden_size=1024, layers=5, units=1024, cnn_depth=96, stochastic_size=32, classes=32),
}


def size_policy_kwargs(size: str) -> dict[str, Any]:
    """The policy arguments of a model size of :data:`SIZES` (``deterministic_size``, ``hidden_size``,
    ``net_arch``, ``cnn_depth``, ``stochastic_size`` and ``latent_classes``)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {list(SIZES)}, got {size!r}.")
    entry = SIZES[size]
    return dict(
        deterministic_size=entry["deterministic_size"],
        hidden_size=entry["hidden_size"],
        net_arch=[entry["units"]] * entry["layers"],
        cnn_depth=entry["cnn_depth"],
        stochastic_size=entry["stochastic_size"],
        latent_classes=entry["classes"],
    )


#: DreamerV3's MLPs at size S: 2 layers of 512 units for every head
V3_NET_ARCH: dict[str, list[int]] = {key: [512] * 2 for key in DEFAULT_NET_ARCH}


class DreamerV3Policy(DreamerPolicy):
    """:class:`DreamerPolicy` with DreamerV3's components and its size S; every argument is :class:`DreamerPolicy`'s.
    The world model's Adam uses epsilon 1e-8, the actor's and critic's 1e-5 (Appendix B). Box actions follow the
    authors' code: a Normal with mean tanh(mu) and std in [0.1, 1], clipped by the environment."""

    default_net_arch: ClassVar[dict[str, list[int]]] = V3_NET_ARCH

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        activation_fn: type[nn.Module] = nn.SiLU,
        deterministic_size: int = 512,
        stochastic_size: int = 32,
        latent_classes: int | None = 32,
        hidden_size: int = 512,
        cnn_depth: int = 32,
        norm: str | None = "layer",
        symlog_inputs: bool = True,
        observation_loss: str = "symlog_mse",
        value_bins: int | None = 255,
        unimix: float = 0.01,
        deterministic_latent: str = "mode",
        return_normalization: bool = True,
        actor_init_std: float = 1.0,
        actor_std_bounds: tuple[float, float] | None = (0.1, 1.0),
        optimizer_kwargs: dict[str, Any] | None = None,
        behavior_optimizer_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            activation_fn=activation_fn,
            deterministic_size=deterministic_size,
            stochastic_size=stochastic_size,
            latent_classes=latent_classes,
            hidden_size=hidden_size,
            cnn_depth=cnn_depth,
            norm=norm,
            symlog_inputs=symlog_inputs,
            observation_loss=observation_loss,
            value_bins=value_bins,
            unimix=unimix,
            deterministic_latent=deterministic_latent,
            return_normalization=return_normalization,
            actor_init_std=actor_init_std,
            actor_std_bounds=actor_std_bounds,
            optimizer_kwargs={"eps": 1e-8} if optimizer_kwargs is None else optimizer_kwargs,
            behavior_optimizer_kwargs={"eps": 1e-5} if behavior_optimizer_kwargs is None else behavior_optimizer_kwargs,
            **kwargs,
        )


class MlpPolicy(DreamerV3Policy):
    """DreamerV3 policy for vector observations (images, if given, are flattened)."""

    image_mode = "never"


class CnnPolicy(DreamerV3Policy):
    """DreamerV3 policy for image observations (uint8, channel-first or channel-last)."""

    image_mode = "required"


class MultiInputPolicy(DreamerV3Policy):
    """DreamerV3 policy for Dict observations: a CNN for each image key, an MLP for each other key."""

    image_mode = "auto"
