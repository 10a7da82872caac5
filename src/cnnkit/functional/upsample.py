"""Nearest and bilinear interpolation (upsampling)."""

__all__: list[str] = []
