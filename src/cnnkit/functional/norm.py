"""Batch normalization and local response normalization."""

__all__: list[str] = []
