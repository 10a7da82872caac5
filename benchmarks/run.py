"""Run ``cnnkit bench --json --output benchmarks/results/<name>.json`` and print the readable table.

    python benchmarks/run.py                      # full run, named after the date and machine
    python benchmarks/run.py --name baseline      # benchmarks/results/baseline.json
    python benchmarks/run.py --only conv,models --repeat 7
    python benchmarks/run.py --quick              # smoke test (not a measurement)

Any option besides --name is passed to ``cnnkit bench`` unchanged (see ``cnnkit bench --help``). The JSON goes to
stdout and the file, the table to stderr; ``python benchmarks/run.py --show results/<name>.json`` prints a saved
one again.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default=None, help="results file name (default: date and host)")
    p.add_argument("--show", default=None, help="print the table of a saved results file and exit")
    args, passthrough = p.parse_known_args(argv)
    from cnnkit.bench import bench_main, format_table

    if args.show:
        with open(args.show if os.path.isabs(args.show) else os.path.join(HERE, args.show)) as f:
            print(format_table(json.load(f)))
        return 0
    name = args.name or f"{datetime.date.today().isoformat()}-{platform.node() or 'machine'}"
    out = os.path.join(HERE, "results", f"{name}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    code = bench_main([*passthrough, "--json", "--output", out])
    if code == 0:
        with open(out) as f:
            print(format_table(json.load(f)), file=sys.stderr)
        print(f"\nresults written to {os.path.relpath(out)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
