"""``python -m bench {grid,latency,sweep,landscape,curvature,load,browser,rooms}``: speed as ratios measured in one run."""

import argparse
import importlib
import sys

# each bench is imported only when it runs: bench landscape runs in .venv-bench, which has neither
# the test tools nor locust
COMMANDS = ("grid", "latency", "sweep", "landscape", "curvature", "load", "browser", "rooms")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--repeat", type=int, default=None, help="timed repetitions (default: per bench)")
    args = parser.parse_args()
    importlib.import_module(f"bench.{args.command}").main(args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
