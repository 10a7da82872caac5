"""Inverted dropout (identity in eval) and channel-wise dropout2d."""

__all__: list[str] = []
