"""Encoder and decoder modules built from shapes alone.

Nothing here knows about scikit-learn, losses or training: every builder is a
pure function of layer sizes, returning ``torch.nn`` modules.
:data:`ARCHITECTURES` maps the estimator's ``architecture`` names to
builders that take a :class:`NetworkSpec` and check the parts of it they
use; :func:`build_network` also fits user-supplied encoder and decoder
modules in, and :func:`check_network` checks their shapes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from numbers import Integral

import torch
from torch import nn

from ._validation import positive_int_tuple


class _RowOrderInvariant(nn.Module):
    """Mixin: outside training, evaluate a float32 activation in float64.

    ATen runs element-wise ops in vector blocks and finishes the tail of a
    tensor with a scalar kernel; for transcendental functions the two can
    differ by one float32 ulp, so a row's code depended on where the row sat
    in the batch (scikit-learn's ``check_methods_sample_order_invariance``
    failed on about one fit in four). In float64 the paths differ far below
    float32 resolution and the rounded results agree. Training keeps the
    float32 kernel: ulps do not matter to gradient steps, and the weights a
    fit produces stay as they were. (Matrix products are left in float32:
    for some small layer shapes the BLAS kernel can still move a value by
    one ulp with the row's position, seen for a 13 -> 3 layer on 203 rows;
    float64 matmuls would double the cost of every transform.)
    """

    # False makes inference compute in float32 too: ONNX Runtime has no
    # float64 Erf, so an ONNX export of a GELU network turns this off.
    float64_inference = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or x.dtype != torch.float32 or not self.float64_inference:
            return super().forward(x)
        return super().forward(x.double()).to(torch.float32)


class Sigmoid(_RowOrderInvariant, nn.Sigmoid):
    """``nn.Sigmoid`` whose inference output does not depend on row order."""


class Tanh(_RowOrderInvariant, nn.Tanh):
    """``nn.Tanh`` whose inference output does not depend on row order."""


class ELU(_RowOrderInvariant, nn.ELU):
    """``nn.ELU`` whose inference output does not depend on row order."""


class GELU(_RowOrderInvariant, nn.GELU):
    """``nn.GELU`` whose inference output does not depend on row order."""


# ReLU and leaky ReLU are exact (a comparison and a product by a constant),
# so they need no float64 detour.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "logistic": Sigmoid,
    "tanh": Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": ELU,
    "gelu": GELU,
}


# Bounds of the variational encoder's log-variances. A posterior wider than
# the prior (log-variance above 0) never helps the ELBO, but one step of a
# high learning rate can throw a unit's log-variance far up; the sampled
# codes then explode and the run with them (on all of Fashion-MNIST at 32-D,
# 44 epochs at the default rate: the loss doubled at epoch 9 and 31 of 32
# units collapsed, test 5-NN 0.478). The upper bound is soft, ``upper -
# softplus(upper - raw)``, so a unit pushed past it still has a gradient
# back; with it the same run trained smoothly. The lower bound only keeps
# exp() finite.
LOG_VAR_MIN, LOG_VAR_MAX = -20.0, 2.0


class _LogVarBound(nn.Module):
    """Log-variances within the soft upper and hard lower bounds."""

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        log_var = LOG_VAR_MAX - nn.functional.softplus(LOG_VAR_MAX - raw)
        return log_var.clamp(min=LOG_VAR_MIN)


class LogVarBound(_RowOrderInvariant, _LogVarBound):
    """The bound, whose inference output does not depend on row order
    (softplus is transcendental)."""


class VariationalEncoder(nn.Module):
    """A Gaussian posterior ``q(z | x)``: a shared body and two heads.

    Calling it returns the posterior mean, so the fitted ``encoder_`` maps
    rows to codes exactly as a plain encoder does (``transform``, export,
    the neighbour term); :meth:`posterior` also returns the log-variance for
    training and the ELBO.
    """

    def __init__(self, body: nn.Module, mean: nn.Linear, log_var: nn.Module) -> None:
        super().__init__()
        self.body, self.mean, self.log_var = body, mean, log_var

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean(self.body(x))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, log variance)`` of ``q(z | x)``, each ``(n, n_components)``."""
        h = self.body(x)
        return self.mean(h), self.log_var(h)


def make_variational(encoder: nn.Sequential) -> VariationalEncoder:
    """Split a built encoder's last linear layer into a mean head and a
    bounded log-variance head over the same features."""
    *body, head = encoder
    log_var = nn.Sequential(
        nn.Linear(head.in_features, head.out_features), LogVarBound()
    )
    return VariationalEncoder(nn.Sequential(*body), head, log_var)


class Autoencoder(nn.Module):
    """Pair an encoder with a decoder whose optional last layer is a sigmoid.

    The decoder is kept as one ``nn.Sequential`` so users get a self-contained
    ``decoder_`` (code -> reconstruction). Training wants the *logits* for a
    numerically stable binary cross-entropy, so :meth:`forward` skips the
    trailing sigmoid when there is one.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Sequential) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.logit_output = isinstance(decoder[-1], nn.Sigmoid)
        self.variational = isinstance(encoder, VariationalEncoder)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Return ``(code, decoder output before any final sigmoid, log_var)``.

        For a variational encoder in training mode the decoder sees a draw
        from ``q(z | x)`` (the reparameterisation ``mean + std * eps``, with
        ``eps`` from ``generator``); the code returned is the mean, and
        ``log_var`` its log-variance (None for a plain encoder).
        """
        if not (self.variational and self.training):
            code = self.encoder(x)
            return code, self.decode_logits(code), None
        code, log_var = self.encoder.posterior(x)
        eps = torch.randn(
            code.shape, generator=generator, device=code.device, dtype=code.dtype
        )
        return code, self.decode_logits(code + torch.exp(0.5 * log_var) * eps), log_var

    def decode_logits(self, code: torch.Tensor) -> torch.Tensor:
        """The decoder's output before any final sigmoid."""
        body = self.decoder[:-1] if self.logit_output else self.decoder
        return body(code)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The clean reconstruction: decode(encode(x)), sigmoid included."""
        return self.decoder(self.encoder(x))

    def squared_error(self, x: torch.Tensor) -> torch.Tensor:
        """Each row's mean squared reconstruction error, shape ``(n,)``: the
        quantity of validation, ``score`` and ``score_samples``."""
        return ((self.reconstruct(x) - x) ** 2).mean(dim=1)


def _output_layer(output_activation: str | None) -> nn.Module:
    return Sigmoid() if output_activation == "logistic" else nn.Identity()


def _code_layer(code_activation: str | None) -> list[nn.Module]:
    return [] if code_activation in (None, "identity") else [_act(code_activation)]


def _act(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def _mlp(sizes: Sequence[int], activation: str) -> list[nn.Module]:
    """Linear layers through ``sizes`` with ``activation`` between them."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(_act(activation))
    return layers


def build_dense(
    n_features: int,
    n_components: int,
    hidden_layer_sizes: Sequence[int],
    activation: str,
    code_activation: str | None = None,
    output_activation: str | None = None,
) -> Autoencoder:
    """Build a fully connected autoencoder with a mirrored decoder.

    Parameters
    ----------
    n_features : int
        Width of the input and of the reconstruction.
    n_components : int
        Width of the code (bottleneck).
    hidden_layer_sizes : sequence of int
        Encoder hidden widths, outermost first. ``()`` gives the single-layer
        (vanilla) autoencoder ``n_features -> n_components -> n_features``.
    activation : str
        Hidden-layer activation, a key of :data:`ACTIVATIONS`.
    code_activation : str or None
        Activation applied to the code (``"logistic"`` for KL sparsity).
    output_activation : str or None
        ``"logistic"`` appends a sigmoid to the decoder.

    Returns
    -------
    Autoencoder
    """
    sizes = [n_features, *hidden_layer_sizes, n_components]
    encoder = nn.Sequential(*_mlp(sizes, activation), *_code_layer(code_activation))
    decoder = nn.Sequential(
        *_mlp(sizes[::-1], activation), _output_layer(output_activation)
    )
    return Autoencoder(encoder, decoder)


def conv_feature_shapes(
    image_shape: tuple[int, int, int], conv_channels: Sequence[int]
) -> list[tuple[int, int, int]]:
    """Shapes ``(channels, height, width)`` after each stride-2 convolution.

    A 3x3 convolution with stride 2 and padding 1 maps a side ``s`` to
    ``ceil(s / 2)``; the first entry is the input shape itself.
    """
    shapes = [tuple(image_shape)]
    for channels in conv_channels:
        _, h, w = shapes[-1]
        shapes.append((channels, math.ceil(h / 2), math.ceil(w / 2)))
    return shapes


def build_conv(
    image_shape: tuple[int, int, int],
    n_components: int,
    conv_channels: Sequence[int],
    activation: str,
    code_activation: str | None = None,
    output_activation: str | None = None,
    hidden_layer_sizes: Sequence[int] = (),
) -> Autoencoder:
    """Build a convolutional autoencoder for flattened images.

    The encoder halves the spatial size with each stride-2 convolution, then
    fully connected layers through ``hidden_layer_sizes`` map the flattened
    feature map to the code. The decoder mirrors it with transposed
    convolutions whose ``output_padding`` is chosen per layer so that the
    output has exactly ``image_shape``, odd sizes included.

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)`` of one sample.
    n_components : int
        Width of the code.
    conv_channels : sequence of int
        Output channels of each encoder convolution.
    activation, code_activation, output_activation : str or None
        As in :func:`build_dense`.
    hidden_layer_sizes : sequence of int, default=()
        Widths of the fully connected layers between the flattened feature
        map and the code, mirrored in the decoder. Without one, a 2-unit code
        is a linear projection of the feature map and the decoder must
        rebuild every feature from two numbers through a single ReLU layer.

    Returns
    -------
    Autoencoder
        Whose modules take and return flat ``(n, prod(image_shape))`` tensors.
    """
    shapes = conv_feature_shapes(image_shape, conv_channels)
    flat = math.prod(shapes[-1])

    encoder_layers: list[nn.Module] = [nn.Unflatten(1, tuple(image_shape))]
    for (c_in, _, _), (c_out, _, _) in pairwise(shapes):
        encoder_layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)]
        encoder_layers.append(_act(activation))
    dense_sizes = [flat, *hidden_layer_sizes, n_components]
    encoder_layers += [nn.Flatten(), *_mlp(dense_sizes, activation)]
    encoder_layers += _code_layer(code_activation)

    decoder_layers: list[nn.Module] = [
        *_mlp(dense_sizes[::-1], activation),
        _act(activation),
        nn.Unflatten(1, shapes[-1]),
    ]
    reversed_shapes = shapes[::-1]
    for i, (small, big) in enumerate(pairwise(reversed_shapes)):
        # Transposed conv output side: 2 * s - 1 + output_padding; pick the
        # padding (0 or 1) that lands exactly on the encoder's input side.
        pad = (big[1] - 2 * small[1] + 1, big[2] - 2 * small[2] + 1)
        decoder_layers.append(
            nn.ConvTranspose2d(
                small[0], big[0], 3, stride=2, padding=1, output_padding=pad
            )
        )
        if i < len(shapes) - 2:
            decoder_layers.append(_act(activation))
    decoder_layers += [nn.Flatten(), _output_layer(output_activation)]
    return Autoencoder(nn.Sequential(*encoder_layers), nn.Sequential(*decoder_layers))


@dataclass(frozen=True)
class NetworkSpec:
    """What the estimator's parameters say about the network.

    Layer specs arrive as the user gave them; each builder checks those it
    uses (a dense network ignores ``conv_channels`` and ``image_shape``).
    """

    n_features: int
    n_components: int
    hidden_layer_sizes: object
    conv_channels: object
    image_shape: object
    activation: str
    code_activation: str | None = None
    output_activation: str | None = None
    variational: bool = False


Builder = Callable[[NetworkSpec], tuple[Autoencoder, tuple[int, int, int] | None]]


def _dense_from_spec(spec: NetworkSpec) -> tuple[Autoencoder, None]:
    hidden = positive_int_tuple(
        spec.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=True
    )
    net = build_dense(
        spec.n_features,
        spec.n_components,
        hidden,
        spec.activation,
        spec.code_activation,
        spec.output_activation,
    )
    return net, None


def _conv_from_spec(spec: NetworkSpec) -> tuple[Autoencoder, tuple[int, int, int]]:
    hidden = positive_int_tuple(
        spec.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=True
    )
    channels = positive_int_tuple(
        spec.conv_channels, "conv_channels", allow_empty=False
    )
    shape = resolve_image_shape(spec.image_shape, spec.n_features)
    net = build_conv(
        shape,
        spec.n_components,
        channels,
        spec.activation,
        spec.code_activation,
        spec.output_activation,
        hidden,
    )
    return net, shape


# The estimator's ``architecture`` names and their builders.
ARCHITECTURES: dict[str, Builder] = {"dense": _dense_from_spec, "conv": _conv_from_spec}


def build_network(
    architecture: str,
    spec: NetworkSpec,
    encoder: nn.Module | None = None,
    decoder: nn.Module | None = None,
) -> tuple[Autoencoder, tuple[int, int, int] | None]:
    """The network for ``spec``, with copies of the user's modules in place of
    the built encoder and decoder where given.

    The copies are wrapped as the built parts would be: a sigmoid after a
    user encoder for KL sparsity (``code_activation``), and after a user
    decoder for BCE (``output_activation``), so a user decoder returns
    logits and a user encoder unbounded codes. The caller's modules are
    never trained.
    """
    net, image_shape = ARCHITECTURES[architecture](spec)
    if spec.variational:
        net = Autoencoder(make_variational(net.encoder), net.decoder)
    if encoder is not None:
        net.encoder = nn.Sequential(
            copy.deepcopy(encoder), *_code_layer(spec.code_activation)
        )
    if decoder is not None:
        net = Autoencoder(
            net.encoder,
            nn.Sequential(
                copy.deepcopy(decoder), _output_layer(spec.output_activation)
            ),
        )
    return net, image_shape


def check_user_module(module: nn.Module, name: str) -> None:
    """Refuse, before any work, user modules that cannot be trained as copies.

    A TorchScript module's parameters are not leaves of a copy that Adam can
    step, and a module on the meta device holds no values to copy.
    """
    what = f"The {name} ({type(module).__name__})"
    if isinstance(module, torch.jit.ScriptModule):
        raise TypeError(
            f"{what} is a TorchScript module, which cannot be trained as a copy; "
            f"pass the nn.Module you scripted instead (script or export the "
            "fitted encoder afterwards with skae.export_encoder)."
        )
    tensors = [*module.parameters(), *module.buffers()]
    if any(t.is_meta for t in tensors):
        raise ValueError(
            f"{what} has parameters on the meta device, which hold no values: "
            "materialise it first (e.g. module.to_empty(device='cpu') and "
            "initialise its weights)."
        )


def check_network(
    net: Autoencoder, n_features: int, n_components: int, device: torch.device
) -> None:
    """Run a two-row batch through ``net`` and check the shapes it returns.

    Raises a ``ValueError`` naming the module, the shape it returned and the
    one expected, or the error it raised, instead of a failure deep inside
    the first training step.
    """
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            batch = torch.zeros(2, n_features, device=device)
            code = _checked_stage("encoder", net.encoder, batch, n_components)
            _checked_stage("decoder", net.decoder, code, n_features)
    finally:
        net.train(was_training)


def _checked_stage(
    name: str, module: nn.Module, x: torch.Tensor, width: int
) -> torch.Tensor:
    inner = module[0] if isinstance(module, nn.Sequential) else module
    what = f"The {name} ({type(inner).__name__})"
    size = "n_components" if name == "encoder" else "n_features"
    try:
        out = module(x)
    except Exception as exc:  # any error inside user code
        raise ValueError(
            f"{what} failed on a batch of shape {tuple(x.shape)}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    expected = (x.shape[0], width)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"{what} maps a batch of shape {tuple(x.shape)} to {got}; expected "
            f"{expected} (n_samples, {size}={width})."
        )
    return out


def init_output_bias(net: Autoencoder, feature_means: torch.Tensor) -> None:
    """Start the decoder at the mean input instead of at zero (or at 0.5).

    The last layer's bias is set so that a zero pre-activation decodes to each
    feature's training mean: the mean itself for a linear output, its logit
    for a sigmoid output. Before this, a BCE decoder started at 0.5 for every
    pixel of mostly-black digits and spent its first few hundred steps only
    learning the background. A transposed-convolution output has one bias per
    channel and gets the channel's mean.
    """
    last = next(m for m in reversed(list(net.decoder.modules())) if hasattr(m, "bias"))
    target = feature_means.to(last.bias.dtype)
    if net.logit_output:
        target = torch.logit(target.clamp(1e-4, 1 - 1e-4))
    if target.numel() != last.bias.numel():  # conv: average each channel
        target = target.reshape(last.bias.numel(), -1).mean(dim=1)
    with torch.no_grad():
        last.bias.copy_(target)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def resolve_image_shape(
    image_shape, n_features: int, user: str = "architecture='conv'"
) -> tuple[int, int, int]:
    """``image_shape`` as ``(channels, height, width)``, checked against X.

    One entry may be -1 and is then inferred from ``n_features``, as in
    :func:`numpy.reshape` (``(1, -1)`` treats each row as a 1-D signal).
    ``user`` names the setting that needs the shape, for the error message.
    """
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"{user} needs image_shape when n_features={n_features} "
                "is not a perfect square; pass image_shape=(height, width) or "
                "(channels, height, width)."
            )
        return (1, side, side)
    # int() would truncate 1.9 and parse '4': accept integers only.
    try:
        shape = tuple(image_shape)
    except TypeError:
        shape = None
    if shape is None or not all(
        isinstance(s, Integral) and not isinstance(s, bool) for s in shape
    ):
        raise TypeError(f"image_shape must be a tuple of ints, got {image_shape!r}.")
    shape = tuple(int(s) for s in shape)
    if (
        len(shape) not in (2, 3)
        or shape.count(-1) > 1
        or any(s == 0 or s < -1 for s in shape)
    ):
        raise ValueError(
            "image_shape must be (height, width) or (channels, height, width) of "
            f"positive ints, with at most one -1 to infer, got {image_shape!r}."
        )
    shape = (1, *shape) if len(shape) == 2 else shape
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape and n_features % known == 0:
        shape = tuple(n_features // known if s == -1 else s for s in shape)
    if math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={image_shape!r} does not fit rows of {n_features} features "
            f"({known} values per sample{' times the -1 entry' if -1 in shape else ''})."
        )
    return shape
