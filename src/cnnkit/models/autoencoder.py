"""A convolutional autoencoder: strided convolutions down, transposed convolutions up."""

from __future__ import annotations

from .. import nn
from ..errors import InputError

__all__ = ["ConvAutoencoder", "conv_autoencoder"]


class ConvAutoencoder(nn.Module):
    """Encoder of stride-2 3x3 convs (each halves H and W), decoder of stride-2 3x3 transposed convs (each
    doubles them) and a sigmoid so outputs lie in [0, 1] like the (normalised) input.

    Idea: squeeze the image through a small spatial code and learn to rebuild it (train with an MSE or BCE
    reconstruction loss). H and W must be divisible by 2 ** len(channels). Default: 1x28x28 -> 32x7x7 -> 1x28x28.
    """

    def __init__(self, in_channels: int = 1, channels: tuple[int, ...] = (16, 32)):
        super().__init__()
        if not channels or any(int(c) <= 0 for c in channels):
            raise InputError(f"ConvAutoencoder: channels must be a non-empty sequence of positive ints, "
                             f"got {channels!r}")
        widths = [in_channels, *channels]
        encoder: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            encoder += [nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1), nn.ReLU()]
        decoder: list[nn.Module] = []
        back = widths[::-1]
        for i, (c_in, c_out) in enumerate(zip(back[:-1], back[1:], strict=True)):
            decoder.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=3, stride=2, padding=1, output_padding=1))
            decoder.append(nn.Sigmoid() if i == len(back) - 2 else nn.ReLU())
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def conv_autoencoder(in_channels: int = 1, channels: tuple[int, ...] = (16, 32)) -> ConvAutoencoder:
    """Convolutional autoencoder for 1x28x28 images (strided-conv encoder, ConvTranspose2d decoder)."""
    return ConvAutoencoder(in_channels=in_channels, channels=channels)
