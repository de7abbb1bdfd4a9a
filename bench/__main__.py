"""``python -m bench {grid,latency,sweep,landscape,curvature,load,browser,rooms} [--smoke]``: speed as
ratios measured in one run; ``--smoke`` runs a bench's code path on its tiniest inputs in seconds and
checks the numbers it reports (tests/test_benches.py runs every bench so)."""

import argparse
import importlib
import sys
import time

# each bench is imported only when it runs: bench landscape runs in .venv-bench, which has neither
# the test tools nor locust
COMMANDS = ("grid", "latency", "sweep", "landscape", "curvature", "load", "browser", "rooms")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--repeat", type=int, default=None, help="timed repetitions (default: per bench)")
    parser.add_argument("--smoke", action="store_true",
                        help="the same code path on the tiniest inputs (one repetition unless --repeat), "
                             "its reported numbers checked; a few seconds")
    args = parser.parse_args()
    start = time.perf_counter()
    importlib.import_module(f"bench.{args.command}").main(args.repeat, smoke=args.smoke)
    if args.smoke:
        print(f"bench {args.command} --smoke: ran, and its numbers are sane, in {time.perf_counter() - start:.1f} s "
              "(besides Python's start)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
