"""Max, average and adaptive pooling; max-pool backward routes each gradient to its arg-max."""

__all__: list[str] = []
