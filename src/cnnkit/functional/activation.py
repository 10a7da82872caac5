"""Activations: sigmoid, tanh, relu, leaky_relu, elu, gelu, softmax, log_softmax."""

__all__: list[str] = []
