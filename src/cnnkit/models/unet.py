"""Encoder-decoder segmentation networks: U-Net (Ronneberger, Fischer and Brox, 2015; the same-padding variant)
and a SegNet-style encoder-decoder whose decoder upsampling is selectable.

The decoder's ways to double a feature map (:class:`Up`):

    nearest    copy each pixel into a 2x2 block                        no parameters
    bilinear   interpolate (align_corners=False)                       no parameters
    transpose  ConvTranspose2d(kernel 2, stride 2): out = (in - 1) * 2 + 2 = 2 * in    learned
    unpool     MaxUnpool2d with the encoder's max-pool indices: each value goes back where its maximum came
               from, zeros elsewhere (SegNet)                          no parameters

Every upsampled map is brought to the exact size of the encoder map it mirrors (pooling floors odd sizes), so
any input size at least 2**depth works.
"""

from __future__ import annotations

from .. import nn
from ..errors import InputError
from ..nn import functional as F

__all__ = ["Up", "UNet", "EncoderDecoder", "unet", "unet_small", "encoder_decoder", "UP_MODES"]

UP_MODES = ("nearest", "bilinear", "transpose", "unpool")


def double_conv(cin: int, cout: int, convs: int = 2) -> nn.Sequential:
    """``convs`` times (3x3 conv, padding 1, no bias) + BatchNorm + ReLU."""
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                   nn.ReLU()]
    return nn.Sequential(*layers)


class Up(nn.Module):
    """Doubles (N, cin, h, w) to (N, cout, H, W), (H, W) the size of the encoder map it mirrors:
    ``forward(x, size, indices=None)``. ``transpose`` learns a ConvTranspose2d(cin, cout, 2, stride 2) and pads
    an odd size's last row/column with zeros; ``nearest``/``bilinear`` interpolate to ``size`` then (when
    cin != cout) mix channels with a 1x1 conv; ``unpool`` needs cin == cout and the pooling's ``indices``."""

    def __init__(self, cin: int, cout: int, mode: str = "transpose"):
        super().__init__()
        if mode not in UP_MODES:
            raise InputError(f"Up: mode must be one of {', '.join(UP_MODES)}, got {mode!r}")
        if mode == "unpool" and cin != cout:
            raise InputError(f"Up: unpooling keeps the channels, so cin must equal cout, got {cin} and {cout}")
        self.mode = mode
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        elif mode == "unpool":
            self.up = nn.MaxUnpool2d(2)
        else:
            self.up = nn.Upsample(scale_factor=2, mode=mode, align_corners=False if mode == "bilinear" else None)
        self.proj = nn.Conv2d(cin, cout, 1) if mode in ("nearest", "bilinear") and cin != cout else None

    def forward(self, x, size, indices=None):
        size = tuple(size)
        if self.mode == "unpool":
            if indices is None:
                raise InputError("Up: unpooling needs the indices of the matching max pooling")
            return self.up(x, indices, output_size=size)
        x = self.up(x)
        if tuple(x.shape[-2:]) != size:
            x = F.pad(x, (0, size[1] - x.shape[3], 0, size[0] - x.shape[2]))
        return x if self.proj is None else self.proj(x)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def _check(name: str, base: int, depth: int) -> None:
    for what, value in (("base", base), ("depth", depth)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name}: {what} must be a positive int, got {value!r}")


class UNet(nn.Module):
    """U-Net with same-padded convolutions: ``depth`` times (2x2 max pool, double conv, channels x2) down from
    ``base`` channels, then as many times (Up, concatenate the mirrored encoder map, double conv, channels / 2)
    and a 1x1 conv to the class scores. The output has the input's size."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, base: int = 64, depth: int = 4,
                 up: str = "transpose"):
        super().__init__()
        _check("UNet", base, depth)
        if up not in ("transpose", "bilinear", "nearest"):
            raise InputError(f"UNet: up must be 'transpose', 'bilinear' or 'nearest', got {up!r}")
        widths = [base * 2 ** i for i in range(depth + 1)]
        self.inc = double_conv(in_channels, base)
        self.downs = nn.ModuleList([nn.Sequential(nn.MaxPool2d(2), double_conv(widths[i], widths[i + 1]))
                                    for i in range(depth)])
        self.ups = nn.ModuleList([Up(widths[i + 1], widths[i], up) for i in reversed(range(depth))])
        self.convs = nn.ModuleList([double_conv(2 * widths[i], widths[i]) for i in reversed(range(depth))])
        self.outc = nn.Conv2d(base, num_classes, 1)
        self.min_size = 2 ** depth

    def forward(self, x):
        if min(x.shape[-2:]) < self.min_size:
            raise InputError(f"UNet: input must be at least {self.min_size}x{self.min_size} (2**depth), got "
                             f"{x.shape[-2]}x{x.shape[-1]}")
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        h = skips.pop()
        for up, conv in zip(self.ups, self.convs, strict=True):
            skip = skips.pop()
            h = conv(F.cat([skip, up(h, skip.shape[-2:])], 1))
        return self.outc(h)


class EncoderDecoder(nn.Module):
    """A SegNet-style encoder-decoder without skip connections, so the decoder's upsampling (``up``, see
    :class:`Up`) alone recovers the resolution: per width, an encoder stage (``convs`` BN conv + 2x2 max pool
    keeping the indices), then mirrored decoder stages (Up to the stage's size, BN convs to the previous width)
    and a 1x1 conv to the class scores."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, widths=(16, 32, 64), up: str = "transpose",
                 convs: int = 2):
        super().__init__()
        widths = tuple(widths)
        if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
            raise InputError(f"EncoderDecoder: widths must be positive ints, got {widths!r}")
        if up not in UP_MODES:
            raise InputError(f"EncoderDecoder: up must be one of {', '.join(UP_MODES)}, got {up!r}")
        ins = (in_channels, *widths[:-1])
        self.encoders = nn.ModuleList([double_conv(c, w, convs) for c, w in zip(ins, widths, strict=True)])
        self.pool = nn.MaxPool2d(2, return_indices=True)
        outs = (widths[0], *widths[:-1])
        self.ups = nn.ModuleList([Up(w, w, up) for w in reversed(widths)])
        self.decoders = nn.ModuleList([double_conv(w, o, convs) for w, o in zip(reversed(widths), reversed(outs),
                                                                                  strict=True)])
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)
        self.min_size = 2 ** len(widths)

    def forward(self, x):
        if min(x.shape[-2:]) < self.min_size:
            raise InputError(f"EncoderDecoder: input must be at least {self.min_size}x{self.min_size}, got "
                             f"{x.shape[-2]}x{x.shape[-1]}")
        trail = []
        for encoder in self.encoders:
            x = encoder(x)
            size = x.shape[-2:]
            x, indices = self.pool(x)
            trail.append((size, indices))
        for up, decoder in zip(self.ups, self.decoders, strict=True):
            size, indices = trail.pop()
            x = decoder(up(x, size, indices))
        return self.classifier(x)


def unet(in_channels: int = 3, num_classes: int = 2, base: int = 64, depth: int = 4,
         up: str = "transpose") -> UNet:
    """U-Net (same padding, batch norm); base 64, depth 4, transposed-conv upsampling: 31.0M parameters."""
    return UNet(in_channels, num_classes, base, depth, up)


def unet_small(in_channels: int = 3, num_classes: int = 4, base: int = 16, depth: int = 3,
               up: str = "transpose") -> UNet:
    """A small U-Net for 64x64 images (base 16, depth 3)."""
    return UNet(in_channels, num_classes, base, depth, up)


def encoder_decoder(in_channels: int = 3, num_classes: int = 2, widths=(16, 32, 64), up: str = "transpose",
                    convs: int = 2) -> EncoderDecoder:
    """A small SegNet-style encoder-decoder; ``up``: nearest, bilinear, transpose or unpool."""
    return EncoderDecoder(in_channels, num_classes, widths, up, convs)
