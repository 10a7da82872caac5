"""Pure array kernels on NumPy ndarrays: no Tensor, no autograd.

Each fast kernel has a plain-NumPy reference beside it; ``conv_arith`` holds all size arithmetic.
"""
