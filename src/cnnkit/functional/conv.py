"""Convolution (im2col + GEMM) and transposed convolution."""

__all__: list[str] = []
