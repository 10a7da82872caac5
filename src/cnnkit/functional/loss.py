"""Losses: cross-entropy, NLL, MSE, L1, smooth L1, binary cross-entropy (with logits)."""

__all__: list[str] = []
