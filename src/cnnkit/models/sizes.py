"""Which square image sizes each classifier of the zoo takes (measured by a forward pass on zeros; a test checks
the table against the models).

Models ending in adaptive pooling take any size from their smallest up; LeNet-5's fixed fully connected layer
takes 28 to 31 pixels; SmallCNN is built for the data's size, a multiple of 4.
"""

from __future__ import annotations

__all__ = ["SIZES", "min_input_size", "takes_size", "models_taking"]

_ANY = None
# name -> (smallest side, largest side or None, side must be a multiple of)
SIZES: dict[str, tuple[int, int | None, int]] = {
    "alexnet": (63, _ANY, 1), "alexnet_original": (67, _ANY, 1), "googlenet": (15, _ANY, 1),
    "lenet5": (28, 31, 1), "small_cnn": (4, _ANY, 4),
    **{f"densenet{n}": (29, _ANY, 1) for n in (121, 161, 169, 201)},
    **{f"vgg{n}{bn}": (32, _ANY, 1) for n in (11, 13, 16, 19) for bn in ("", "_bn")},
    **{f"resnet{n}": (1, _ANY, 1) for n in (18, 34, 50, 101, 152, 20, 32, 44, 56, 110)},
    **{f"preact_resnet{n}": (1, _ANY, 1) for n in (18, 34, 50, 101, 152)},
}


def min_input_size(name: str) -> int | None:
    """The smallest square side ``name`` takes (None for a model not in the table)."""
    entry = SIZES.get(name.lower())
    return entry[0] if entry else None


def takes_size(name: str, size: int) -> bool | None:
    """Whether ``name`` takes ``size`` x ``size`` images (None for a model not in the table)."""
    entry = SIZES.get(name.lower())
    if entry is None:
        return None
    low, high, step = entry
    return size >= low and (high is None or size <= high) and size % step == 0


def models_taking(size: int) -> list[str]:
    """The classifiers of the table that take ``size`` x ``size`` images, sorted."""
    return sorted(name for name in SIZES if takes_size(name, size))
