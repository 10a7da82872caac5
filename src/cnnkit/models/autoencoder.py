"""Autoencoders: a convolutional one (strided convolutions down, transposed convolutions up, optionally through a
code vector of a chosen size) and a linear one (the autoencoder that PCA solves in closed form)."""

from __future__ import annotations

import numbers

from .. import nn
from ..errors import InputError

__all__ = ["ConvAutoencoder", "conv_autoencoder", "LinearAutoencoder"]


class _Autoencoder(nn.Module):
    """An ``encoder`` and a ``decoder``: ``forward(x) = decode(encode(x))``."""

    def encode(self, x):
        return self.encoder(x)

    def decode(self, code):
        return self.decoder(code)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class ConvAutoencoder(_Autoencoder):
    """Encoder of stride-2 3x3 convs (each halves H and W), decoder of stride-2 3x3 transposed convs (each
    doubles them) and a sigmoid so outputs lie in [0, 1] like the (normalised) input.

    Idea: squeeze the image through a small code and learn to rebuild it (train with an MSE or BCE reconstruction
    loss). H and W must be divisible by 2 ** len(channels). Default: 1x28x28 -> 32x7x7 -> 1x28x28 (a spatial
    code). With ``code_size`` the last feature maps are flattened into a ``code_size`` vector by a linear layer and
    a linear layer unfolds it again (needs ``input_size``, the side of the square images): codes of any size,
    comparable with PCA's. ``encode(x)`` gives the code, ``decode(code)`` the image.
    """

    def __init__(self, in_channels: int = 1, channels: tuple[int, ...] = (16, 32), code_size: int | None = None,
                 input_size: int | None = None):
        super().__init__()
        if not channels or any(int(c) <= 0 for c in channels):
            raise InputError(f"ConvAutoencoder: channels must be a non-empty sequence of positive ints, "
                             f"got {channels!r}")
        widths = [in_channels, *channels]
        encoder: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            encoder += [nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1), nn.ReLU()]
        decoder: list[nn.Module] = []
        if code_size is not None:
            side = _code_side(code_size, input_size, len(channels))
            flat = widths[-1] * side * side
            encoder += [nn.Flatten(), nn.Linear(flat, int(code_size))]
            decoder += [nn.Linear(int(code_size), flat), nn.ReLU(), nn.Unflatten(1, (widths[-1], side, side))]
        back = widths[::-1]
        for i, (c_in, c_out) in enumerate(zip(back[:-1], back[1:], strict=True)):
            decoder.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=3, stride=2, padding=1, output_padding=1))
            decoder.append(nn.Sigmoid() if i == len(back) - 2 else nn.ReLU())
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)


def _code_side(code_size, input_size, depth: int) -> int:
    if isinstance(code_size, bool) or not isinstance(code_size, numbers.Integral) or code_size < 1:
        raise InputError(f"ConvAutoencoder: code_size must be a positive int, got {code_size!r}")
    if isinstance(input_size, bool) or not isinstance(input_size, numbers.Integral) or input_size < 1:
        raise InputError(f"ConvAutoencoder: a code_size needs input_size (the side of the square images), got "
                         f"{input_size!r}")
    if input_size % 2 ** depth:
        raise InputError(f"ConvAutoencoder: input_size {input_size} must be divisible by 2 ** {depth} (one halving "
                         f"per encoder layer)")
    return input_size // 2 ** depth


class LinearAutoencoder(_Autoencoder):
    """``x -> W2 (W1 x + b1) + b2``: a linear code of ``code_size`` numbers for images of ``shape`` (C, H, W).
    Trained with the squared error, its decoder spans the same subspace as PCA's first ``code_size`` components
    (Baldi & Hornik, 1989), so its error approaches PCA's from above."""

    def __init__(self, shape: tuple[int, int, int], code_size: int):
        super().__init__()
        c, h, w = (int(s) for s in shape)
        if isinstance(code_size, bool) or not isinstance(code_size, numbers.Integral) or code_size < 1:
            raise InputError(f"LinearAutoencoder: code_size must be a positive int, got {code_size!r}")
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, int(code_size)))
        self.decoder = nn.Sequential(nn.Linear(int(code_size), c * h * w), nn.Unflatten(1, (c, h, w)))


def conv_autoencoder(in_channels: int = 1, channels: tuple[int, ...] = (16, 32), code_size: int | None = None,
                     input_size: int | None = None) -> ConvAutoencoder:
    """Convolutional autoencoder for 1x28x28 images (strided-conv encoder, ConvTranspose2d decoder); ``code_size``
    adds a linear bottleneck of that many numbers (with ``input_size``)."""
    return ConvAutoencoder(in_channels=in_channels, channels=channels, code_size=code_size, input_size=input_size)
