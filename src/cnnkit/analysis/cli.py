"""``cnnkit summary MODEL``: print a model's summary table (or its JSON) from the command line."""

from __future__ import annotations

import argparse
import sys

from ..errors import InputError

__all__ = ["summary_main", "build_parser", "parse_input_size"]


def parse_input_size(text: str) -> tuple[int, ...]:
    """'3x224x224' (or '3,224,224') -> (3, 224, 224)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 3x224x224, got {text!r}") from None
    if not size or any(n <= 0 for n in size):
        raise argparse.ArgumentTypeError(f"expected positive sizes like 3x224x224, got {text!r}")
    return size


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def build_parser(prog: str = "cnnkit summary") -> argparse.ArgumentParser:
    """The argument parser of the ``summary`` sub-command (reusable as a sub-parser's template)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Layer-by-layer summary of a model from the zoo: output shapes, parameters, MACs "
                    "(FLOPs = 2 x MACs), receptive field and memory, from one forward pass on zeros.")
    parser.add_argument("model", nargs="?", help="model name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the model names with their natural input size")
    parser.add_argument("--input", type=parse_input_size, default=None, metavar="CxHxW",
                        help="input size without the batch, e.g. 3x224x224 (default: the model's natural size)")
    parser.add_argument("--batch", type=_positive, default=1, help="batch size (default 1)")
    parser.add_argument("--depth", type=_non_negative, default=3, help="nesting levels shown (default 3)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of the table")
    parser.add_argument("--explain", action="store_true",
                        help="add each conv/pool layer's output-size and parameter formulas")
    parser.add_argument("--num-classes", type=_positive, default=None, help="number of output classes")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="input dtype (default float32)")
    return parser


def summary_main(argv: list[str] | None = None) -> int:
    """Run ``cnnkit summary`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    from .. import models
    from .summary import summary

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on errors (2)
        return int(exc.code or 0)
    if args.list:
        for known in models.list_models():
            size = "x".join(str(n) for n in models.model_input_size(known))
            print(f"{known:18s} {size:10s} {models.model_description(known)}")
        return 0
    if args.model is None:
        print("cnnkit: error: summary: a model name is required (see `cnnkit summary --list`)", file=sys.stderr)
        return 2
    name = args.model.lower()
    if name not in models.list_models():
        print(f"cnnkit: error: summary: unknown model {args.model!r}; Known models: {', '.join(models.list_models())}",
              file=sys.stderr)
        return 2
    input_size = args.input or models.model_input_size(name)
    spatial = len(input_size) == 3
    try:
        model = models.build_model(name, num_classes=args.num_classes, in_channels=input_size[0] if spatial else None,
                                   input_size=input_size[1] if spatial else None)
    except (TypeError, ValueError) as err:
        print(f"cnnkit: error: summary: cannot build {name} for input {list(input_size)}: {err}", file=sys.stderr)
        return 2
    try:
        result = summary(model, (args.batch, *input_size), depth=args.depth, dtype=args.dtype,
                         explain=args.explain)
    except (RuntimeError, ValueError) as err:
        message = " ".join(str(err).split())
        print(f"cnnkit: error: {message if message.startswith('summary') else 'summary: ' + message}",
              file=sys.stderr)
        return 2 if isinstance(err, InputError) else 1
    print(result.to_json() if args.json else result.format_table())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(summary_main())
