"""Encoders, decoders and MLP heads of the world model and the actor-critic.

Images go through a convolutional encoder (Dreamer V1, Appendix A: four stride-2 convolutions of
depth 32, 64, 128, 256) and a mirrored transposed-convolution decoder; vectors go through MLPs.
By default each convolution is padded to halve the image side (64x64 becomes 4x4x256); the ``"valid"`` layout
is the one of the papers' code (valid convolutions to 2x2x256, a decoder from a 1x1 map with kernels 5, 5, 6, 6).
Images smaller than 16 pixels a side (MinAtar's 10x10) use three 3x3 stride-1 convolutions instead,
as the DreamerV2 MinAtar implementation does.
A Dict observation gets one encoder and one decoder per key, and the embeddings are concatenated.

DreamerV3's networks (``norm="layer"`` or ``"rms"``) normalise every hidden layer before its activation: dense and
convolutional layers drop their bias and are followed by LayerNorm (or RMSNorm) over the features or channels, and
the GRU is :class:`NormGRUCell`. Its reward and value heads are two-hot (:class:`ValueHead` with ``bins``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, is_image_space
from torch import nn

from sb3_dreamer.common.checks import UnsupportedSpaceError
from sb3_dreamer.common.likelihoods import SquaredError, TwoHot, UnitNormal
from sb3_dreamer.common.linear import Linear, linear
from sb3_dreamer.common.normalizers import PercentileReturnNormalizer
from sb3_dreamer.common.transforms import symlog, symlog_grid

#: the smallest image side for the Dreamer layout of four kernel-4 stride-2 convolutions (each halves it)
LARGE_IMAGE_SIZE = 16
#: the smallest image side the encoder accepts (three valid 3x3 convolutions shrink it by 6)
MIN_IMAGE_SIZE = 7


#: encoder/decoder layouts: "padded" (each kernel-4 stride-2 convolution halves the side) or "valid" (the
#: papers' code: unpadded convolutions, 64 -> 31 -> 14 -> 6 -> 2, and a decoder from a 1x1 map; 64x64 only)
CNN_LAYOUTS = ("padded", "valid")
#: the "valid" layout's transposed convolutions ``(kernel, stride)``: 1 -> 5 -> 13 -> 30 -> 64 pixels a side
VALID_DECODER = [(5, 2), (5, 2), (6, 2), (6, 2)]


def conv_layout(height: int, width: int, layout: str = "padded") -> list[tuple[int, int, int]]:
    """``(kernel, stride, padding)`` of each encoder layer for an image of this size."""
    if layout not in CNN_LAYOUTS:
        raise ValueError(f"cnn_layout must be one of {CNN_LAYOUTS}, got {layout!r}.")
    if layout == "valid":
        if (height, width) != (64, 64):
            raise UnsupportedSpaceError(
                f'cnn_layout="valid" is the papers\' layout for 64x64 images, got {height}x{width}; use "padded".'
            )
        return [(4, 2, 0)] * 4
    if min(height, width) >= LARGE_IMAGE_SIZE:
        return [(4, 2, 1)] * 4
    if min(height, width) >= MIN_IMAGE_SIZE:
        return [(3, 1, 0)] * 3
    raise UnsupportedSpaceError(
        f"Image observations must be at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} pixels, got {height}x{width} "
        "(channel-first after transposition); resize them (e.g. gymnasium.wrappers.ResizeObservation) "
        "or use MlpPolicy, which flattens them."
    )


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Side of a convolution's output (PyTorch's formula)."""
    return (size + 2 * padding - kernel) // stride + 1


#: activations whose derivative PyTorch computes from their output: in place, their backward pass keeps one tensor per
#: layer (the output, which is also the next layer's input) instead of two
IN_PLACE_ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ELU, nn.CELU, nn.SELU, nn.ReLU, nn.LeakyReLU)


def activation_layer(activation: type[nn.Module]) -> nn.Module:
    """``activation()``, in place for :data:`IN_PLACE_ACTIVATIONS`: the same values, with half the activation memory
    of imagination. Others (SiLU, Mish, ...) differentiate from their input: in place, autograd would copy the input
    first, for one more pass over it and no memory saved (DreamerV3 from 64x64 pixels on an AVX2 core: a fifth of an
    update)."""
    if issubclass(activation, IN_PLACE_ACTIVATIONS):
        return activation(inplace=True)
    return activation()


#: normalisation layers of DreamerV3's networks (``norm`` argument): LayerNorm (the 2023 paper) or RMSNorm
NORMS = ("layer", "rms")


def norm_layer(norm: str, size: int) -> nn.Module:
    """LayerNorm or RMSNorm over the last dimension, with DreamerV3's epsilon 1e-3."""
    if norm == "layer":
        return nn.LayerNorm(size, eps=1e-3)
    if norm == "rms":
        return nn.RMSNorm(size, eps=1e-3)
    raise ValueError(f"norm must be one of {NORMS} or None, got {norm!r}.")


class ChannelNorm(nn.Module):
    """LayerNorm or RMSNorm of a convolution's channels at each pixel, for ``(N, C, H, W)`` maps (channels-last in
    memory, where the permutation is free).

    :param norm: ``"layer"`` or ``"rms"``
    :param channels: the number of channels
    """

    def __init__(self, norm: str, channels: int) -> None:
        super().__init__()
        self.norm = norm_layer(norm, channels)

    def forward(self, x: th.Tensor) -> th.Tensor:
        """The map with each pixel's channel vector normalised."""
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class Symlog(nn.Module):
    """``symlog`` as a layer: DreamerV3's transform of vector inputs."""

    def forward(self, x: th.Tensor) -> th.Tensor:
        """``sign(x) ln(|x| + 1)`` elementwise."""
        return symlog(x)


def mlp(
    input_dim: int,
    hidden: list[int],
    output_dim: int | None,
    activation: type[nn.Module],
    norm: str | None = None,
    symlog_inputs: bool = False,
) -> MLP:
    """Fully connected layers with ``activation`` between them; no activation after the output layer.

    :param norm: None, or ``"layer"``/``"rms"`` after each hidden layer (whose bias it replaces), before the
        activation (DreamerV3)
    :param symlog_inputs: transform the inputs with symlog first (DreamerV3's vector encoder)
    """
    layers: list[nn.Module] = [Symlog()] if symlog_inputs else []
    last = input_dim
    for width in hidden:
        if norm is None:
            layers += [Linear(last, width), activation_layer(activation)]
        else:
            layers += [Linear(last, width, bias=False), norm_layer(norm, width), activation_layer(activation)]
        last = width
    if output_dim is not None:
        layers.append(Linear(last, output_dim))
    return MLP(*layers)


class MLP(nn.Sequential):
    """The layers of :func:`mlp`, run on the inputs flattened to 2-D: ``(..., d)`` in, ``(..., d')`` out.

    ``nn.Linear`` on a 3-D input returns a view of a 2-D product, and an in-place activation on a view makes
    autograd rebuild the whole gradient in the backward pass (``CopySlices``: a clone, a zero fill and a strided
    copy of every ``(horizon, starts, width)`` activation). On 2-D inputs every product is a tensor of its own,
    so the activation works in place with nothing to rebuild. Same parameters (and state-dict keys) as
    ``nn.Sequential``.
    """

    def forward(self, x: th.Tensor) -> th.Tensor:
        """The layers applied to the last dimension of ``x``."""
        if x.dim() == 2:
            return super().forward(x)
        y = super().forward(x.reshape(-1, x.shape[-1]))
        return y.reshape(*x.shape[:-1], y.shape[-1])


class NormGRUCell(nn.Module):
    """DreamerV3's GRU (the authors' code, after Cho et al. 2014): one bias-free linear layer of ``[h, x]`` to the
    three gates, normalised, then ``r = sigma(.)``, ``c = tanh(r * .)``, ``u = sigma(. - 1)`` and
    ``h' = u * c + (1 - u) * h``. The -1 starts the update gate mostly closed (the state is mostly kept).
    The same call as :class:`torch.nn.GRUCell`.

    :param input_size: the size of ``x``
    :param hidden_size: the size of ``h``
    :param norm: ``"layer"`` or ``"rms"``
    """

    def __init__(self, input_size: int, hidden_size: int, norm: str) -> None:
        super().__init__()
        self.linear = Linear(hidden_size + input_size, 3 * hidden_size, bias=False)
        self.norm = norm_layer(norm, 3 * hidden_size)

    def forward(self, x: th.Tensor, h: th.Tensor) -> th.Tensor:
        """The next state ``h'`` from the input ``x`` and the state ``h``."""
        reset, candidate, update = self.norm(self.linear(th.cat([h, x], dim=-1))).chunk(3, dim=-1)
        candidate = th.tanh(th.sigmoid(reset) * candidate)
        update = th.sigmoid(update - 1.0)
        return update * candidate + (1.0 - update) * h


def is_image_key(space: spaces.Space, normalize_images: bool) -> bool:
    """Whether a (sub)space is treated as an image: 3-D, and uint8 in [0, 255] unless images come normalised."""
    return is_image_space(space, check_channels=False, normalized_image=not normalize_images)


class ConvEncoder(nn.Module):
    """Convolutional image encoder: ``(B, C, H, W)`` floats to a flat embedding.

    Weights and activations are kept channels-last (NHWC in memory; shapes stay NCHW), the layout oneDNN's CPU
    convolutions are fastest in: 15% off a pixel world-model update at the paper's sizes in bf16.

    From 16 pixels a side up, kernel 4, stride 2, padding 1 halves each side, so a 64x64 image becomes
    4x4x(8*depth) (``"valid"``: no padding, 2x2x(8*depth)); smaller images (7 to 15 pixels) go through three
    valid 3x3 convolutions. ``shapes`` and ``layout`` record every layer so that :class:`ConvDecoder`
    mirrors the exact shapes. With ``norm``, each convolution is followed by a :class:`ChannelNorm` (DreamerV3).
    """

    def __init__(
        self, shape: tuple[int, ...], depth: int, activation: type[nn.Module], layout: str = "padded", norm: str | None = None
    ) -> None:
        super().__init__()
        channels, height, width = shape
        self.depth, self.layout_name = depth, layout
        self.layout = conv_layout(height, width, layout)
        layers: list[nn.Module] = []
        self.shapes = [(channels, height, width)]
        for i, (kernel, stride, padding) in enumerate(self.layout):
            out_channels = depth * 2**i
            layers.append(nn.Conv2d(channels, out_channels, kernel, stride=stride, padding=padding, bias=norm is None))
            layers += [*([] if norm is None else [ChannelNorm(norm, out_channels)]), activation_layer(activation)]
            channels = out_channels
            height = conv_output_size(height, kernel, stride, padding)
            width = conv_output_size(width, kernel, stride, padding)
            self.shapes.append((channels, height, width))
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.net.to(memory_format=th.channels_last)
        self.output_dim = channels * height * width

    def forward(self, image: th.Tensor) -> th.Tensor:
        """Embeddings ``(..., output_dim)`` of images ``(..., C, H, W)``; any leading batch shape."""
        batch_shape = image.shape[:-3]
        image = image.reshape(-1, *image.shape[-3:]).contiguous(memory_format=th.channels_last)
        return self.net(image).reshape(*batch_shape, -1)


class PointConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters and state-dict keys) that computes a transposed convolution of a 1x1
    map as the linear map it is: each output pixel ``(i, j)`` is ``W[:, :, i, j]^T x + b``, one product of the
    inputs ``(N, C_in)`` with the weight laid out as ``(k k C_out, C_in)``, on oneDNN where
    :func:`~sb3_dreamer.common.linear.linear` sends float32 products. The papers' decoder starts from a 1x1 map; at
    sheeprl's sizes (2,500 frames, 1024 to 128 channels, kernel 5) oneDNN's transposed convolution ran it at 18-20
    GFLOP/s, against about 100 for the product (AMD EPYC, Zen 4, float32; benchmarks/product_floor.py). Other
    inputs go through ``nn.ConvTranspose2d``. The output is channels-last, as the decoder's layers expect.
    """

    def forward(self, x: th.Tensor, output_size: list[int] | None = None) -> th.Tensor:
        """The transposed convolution of ``x`` ``(N, C_in, H, W)``; a product where ``H = W = 1``."""
        point = x.shape[-2:] == (1, 1) and output_size is None and self.groups == 1
        plain = self.padding == (0, 0) and self.output_padding == (0, 0) and self.dilation == (1, 1)
        if not (point and plain):
            return super().forward(x, output_size)
        kh, kw = self.kernel_size
        weight = self.weight.permute(2, 3, 1, 0).reshape(kh * kw * self.out_channels, self.in_channels)
        bias = None if self.bias is None else self.bias.repeat(kh * kw)  # pixel-major, channels innermost
        y = linear(x.reshape(x.shape[0], self.in_channels), weight, bias)
        return y.view(x.shape[0], kh, kw, self.out_channels).permute(0, 3, 1, 2)  # NCHW shape, channels-last memory


class ConvDecoder(nn.Module):
    """Transposed-convolution decoder that mirrors a :class:`ConvEncoder` back to the exact image shape.

    For the ``"valid"`` layout it is the papers' decoder instead: a linear layer to a 1x1x(32*depth) map, then
    transposed convolutions of kernels 5, 5, 6, 6 and stride 2 with 4, 2, 1 times ``depth`` channels.
    With ``norm``, every transposed convolution but the last is followed by a :class:`ChannelNorm` (DreamerV3).
    """

    def __init__(self, feature_dim: int, encoder: ConvEncoder, activation: type[nn.Module], norm: str | None = None) -> None:
        super().__init__()

        def hidden(channels: int) -> list[nn.Module]:
            return [*([] if norm is None else [ChannelNorm(norm, channels)]), activation_layer(activation)]

        shapes = encoder.shapes
        self.output_shape = shapes[0]
        if encoder.layout_name == "valid":
            self.first_shape = (32 * encoder.depth, 1, 1)
            channels = [32 * encoder.depth, 4 * encoder.depth, 2 * encoder.depth, encoder.depth, self.output_shape[0]]
            layers: list[nn.Module] = [Linear(feature_dim, channels[0]), nn.Unflatten(-1, self.first_shape)]
            for i, (kernel, stride) in enumerate(VALID_DECODER):
                last = i == len(VALID_DECODER) - 1
                deconv = PointConvTranspose2d if i == 0 else nn.ConvTranspose2d  # the first maps a 1x1 map
                layers.append(deconv(channels[i], channels[i + 1], kernel, stride, bias=last or norm is None))
                if not last:
                    layers += hidden(channels[i + 1])
        else:
            self.first_shape = shapes[-1]
            layers = [Linear(feature_dim, int(np.prod(self.first_shape))), nn.Unflatten(-1, self.first_shape)]
            for i in range(len(encoder.layout), 0, -1):
                kernel, stride, padding = encoder.layout[i - 1]
                (in_channels, in_h, in_w), (out_channels, out_h, out_w) = shapes[i], shapes[i - 1]
                # a transposed convolution gives (size - 1) * stride - 2 * padding + kernel + output_padding
                output_padding = tuple(
                    out - ((size - 1) * stride - 2 * padding + kernel) for out, size in ((out_h, in_h), (out_w, in_w))
                )
                bias = i == 1 or norm is None
                layers.append(
                    nn.ConvTranspose2d(
                        in_channels, out_channels, kernel, stride, padding, output_padding=output_padding, bias=bias
                    )
                )
                if i > 1:
                    layers += hidden(out_channels)
        self.net = nn.Sequential(*layers).to(memory_format=th.channels_last)

    def forward(self, features: th.Tensor) -> th.Tensor:
        """Images ``(..., C, H, W)`` (the mean of a unit Gaussian) from model-state features ``(..., F)``."""
        batch_shape = features.shape[:-1]
        return self.net(features.reshape(-1, features.shape[-1])).reshape(*batch_shape, *self.output_shape)


class MultiEncoder(nn.Module):
    """One encoder per observation key (CNN for images, MLP for vectors); embeddings are concatenated.
    ``norm`` normalises every hidden layer, ``symlog_inputs`` feeds vectors through symlog (DreamerV3)."""

    def __init__(
        self,
        observation_space: spaces.Dict,
        image_keys: list[str],
        hidden: list[int],
        cnn_depth: int,
        cnn_output_dim: int | None,
        activation: type[nn.Module],
        cnn_layout: str = "padded",
        norm: str | None = None,
        symlog_inputs: bool = False,
    ) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict()
        self.output_dim = 0
        for key, subspace in observation_space.spaces.items():
            if key in image_keys:
                cnn = ConvEncoder(subspace.shape, cnn_depth, activation, cnn_layout, norm)
                if cnn_output_dim is None:
                    self.encoders[key] = cnn
                    self.output_dim += cnn.output_dim
                else:
                    self.encoders[key] = nn.Sequential(cnn, Linear(cnn.output_dim, cnn_output_dim))
                    self.output_dim += cnn_output_dim
            else:
                self.encoders[key] = mlp(get_flattened_obs_dim(subspace), hidden, None, activation, norm, symlog_inputs)
                self.output_dim += hidden[-1] if hidden else get_flattened_obs_dim(subspace)

    def forward(self, obs: dict[str, th.Tensor]) -> th.Tensor:
        """The concatenated embedding ``e_t`` of a dict of preprocessed observations."""
        return th.cat([encoder(obs[key]) for key, encoder in self.encoders.items()], dim=-1)


#: reconstruction likelihoods of :class:`MultiDecoder`: a unit Gaussian of every key (Dreamer V1, V2), or
#: DreamerV3's squared error, of vectors in symlog space
OBSERVATION_LOSSES = ("gaussian", "symlog_mse")


class MultiDecoder(nn.Module):
    """One decoder per observation key. Its likelihood is a unit-variance Gaussian (``"gaussian"``, Dreamer V1 and
    V2) or the summed squared error (``"symlog_mse"``, DreamerV3): vectors predicted in symlog space,
    images as they are.

    :param observation_loss: ``"gaussian"`` or ``"symlog_mse"``
    :param norm: None, or ``"layer"``/``"rms"`` after every hidden layer (DreamerV3)
    """

    def __init__(
        self,
        feature_dim: int,
        observation_space: spaces.Dict,
        encoder: MultiEncoder,
        image_keys: list[str],
        hidden: list[int],
        activation: type[nn.Module],
        observation_loss: str = "gaussian",
        norm: str | None = None,
    ) -> None:
        super().__init__()
        if observation_loss not in OBSERVATION_LOSSES:
            raise ValueError(f"observation_loss must be one of {OBSERVATION_LOSSES}, got {observation_loss!r}.")
        self.observation_loss = observation_loss
        self.decoders = nn.ModuleDict()
        self.event_dims: dict[str, int] = {}
        for key, subspace in observation_space.spaces.items():
            if key in image_keys:
                cnn = encoder.encoders[key]
                cnn = cnn if isinstance(cnn, ConvEncoder) else cnn[0]
                self.decoders[key] = ConvDecoder(feature_dim, cnn, activation, norm)
                self.event_dims[key] = 3
            else:
                self.decoders[key] = mlp(feature_dim, hidden, get_flattened_obs_dim(subspace), activation, norm)
                self.event_dims[key] = 1

    def dists(self, features: th.Tensor) -> dict[str, UnitNormal | SquaredError]:
        """The likelihood of every observation key given model-state features ``(..., F)``, computed in float32
        (also under bf16 autocast): ``log_prob(obs[key])`` is that key's reconstruction log-likelihood."""
        dists: dict[str, UnitNormal | SquaredError] = {}
        for key, decoder in self.decoders.items():
            out, event_dims = decoder(features).float(), self.event_dims[key]
            if self.observation_loss == "gaussian":
                dists[key] = UnitNormal(out, event_dims)
            else:
                dists[key] = SquaredError(out, event_dims, symlog=event_dims == 1)
        return dists

    def forward(self, features: th.Tensor) -> dict[str, th.Tensor]:
        """The reconstruction (the likelihood's mean) of every observation key from model-state features ``(..., F)``."""
        return {key: dist.mean for key, dist in self.dists(features).items()}


class ScalarHead(nn.Module):
    """MLP from the model state's features to one number per state.

    :param norm: None, or ``"layer"``/``"rms"`` after every hidden layer (DreamerV3)
    """

    def __init__(self, feature_size: int, hidden: list[int], activation: type[nn.Module], norm: str | None = None) -> None:
        super().__init__()
        self.net = mlp(feature_size, hidden, 1, activation, norm)

    def forward(self, features: th.Tensor) -> th.Tensor:
        """One number per state: ``(...)`` from features ``(..., F)`` (float32, also under bf16 autocast)."""
        return self.net(features).squeeze(-1).float()


class ValueHead(nn.Module):
    """MLP from the model state's features to a distribution over one scalar: the mean of a unit-variance Gaussian
    (Dreamer V1, V2), or DreamerV3's two-hot softmax over ``bins`` bins at ``symexp([-20, ..., 20])``
    (:class:`~sb3_dreamer.common.likelihoods.TwoHot`) whose output layer starts at zero, so that every state is
    predicted 0 at first (as in the paper and the authors' code).

    :param norm: None, or ``"layer"``/``"rms"`` after every hidden layer (DreamerV3)
    :param bins: None for the Gaussian, or the number of two-hot bins (255 in DreamerV3)
    """

    grid: th.Tensor

    def __init__(
        self,
        feature_size: int,
        hidden: list[int],
        activation: type[nn.Module],
        norm: str | None = None,
        bins: int | None = None,
    ) -> None:
        super().__init__()
        self.bins = bins
        self.net = mlp(feature_size, hidden, 1 if bins is None else bins, activation, norm)
        if bins is not None:
            nn.init.zeros_(self.net[-1].weight)
            nn.init.zeros_(self.net[-1].bias)
            self.register_buffer("grid", symlog_grid(bins), persistent=False)

    def dist(self, features: th.Tensor) -> UnitNormal | TwoHot:
        """The distribution over the scalar at each state ``(...)`` from features ``(..., F)`` (its parameters in
        float32, also under bf16 autocast): ``mean`` is the prediction, ``log_prob(target)`` the training signal."""
        out = self.net(features).float()
        return UnitNormal(out.squeeze(-1), 0) if self.bins is None else TwoHot(out, self.grid)

    def forward(self, features: th.Tensor) -> th.Tensor:
        """The prediction ``(...)``: the distribution's mean."""
        return self.dist(features).mean


class RewardModel(ValueHead):
    """``p(r_t | s_t)``: a distribution over the reward received on reaching ``s_t``."""


class ContinueModel(ScalarHead):
    """``p(c_t | s_t)``: the logit of a Bernoulli over "the episode goes on after ``s_t``" (not terminated)."""


class Critic(ValueHead):
    """Value model ``v(s_t)`` (Eq. 8): a distribution over the lambda-return.

    :param return_normalizer: DreamerV3's scale of the returns this critic learns, by which the actor divides its
        returns and advantages (:class:`~sb3_dreamer.common.normalizers.PercentileReturnNormalizer`); None
        (Dreamer V1, V2): returns are not scaled
    :param kwargs: the arguments of :class:`ValueHead`
    """

    def __init__(self, *args: Any, return_normalizer: PercentileReturnNormalizer | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.return_normalizer = return_normalizer
