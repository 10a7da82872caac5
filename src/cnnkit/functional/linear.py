"""Fully connected layer: y = x W^T + b."""

__all__: list[str] = []
