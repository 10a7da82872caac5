"""Neural-network building blocks with PyTorch's API: Module, Parameter, containers, layers, losses, init.

    import cnnkit.nn as nn
    import cnnkit.nn.functional as F
"""

from . import functional, init
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid, Softmax, Tanh
from .containers import ModuleDict, ModuleList, Sequential
from .conv import Conv2d, ConvTranspose2d
from .detection import RoIAlign, RoIPool, SpatialPyramidPool2d
from .dropout import Dropout, Dropout2d
from .flatten import Flatten, Unflatten
from .geometry import AdaptiveWindow, LayerCall, LayerGeometry, ParamCount, Resize, TransposedWindow, Window
from .linear import Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, DiceLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss
from .module import IncompatibleKeys, Module, RemovableHandle
from .normalization import BatchNorm1d, BatchNorm2d, LocalResponseNorm
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d, MaxUnpool2d
from .upsample import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = [
    "functional", "init", "Module", "Parameter", "RemovableHandle", "IncompatibleKeys",
    "Sequential", "ModuleList", "ModuleDict",
    "Identity", "Linear", "Flatten", "Unflatten", "Conv2d", "ConvTranspose2d",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "MaxUnpool2d",
    "BatchNorm1d", "BatchNorm2d", "LocalResponseNorm", "Dropout", "Dropout2d",
    "ReLU", "ReLU6", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "GELU", "Softmax", "LogSoftmax",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "RoIPool", "RoIAlign", "SpatialPyramidPool2d",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss", "DiceLoss",
    "LayerCall", "LayerGeometry", "ParamCount", "Window", "TransposedWindow", "AdaptiveWindow", "Resize",
]
