"""``python -m bench {grid,latency,sweep,landscape,load}``: speed as ratios measured in one run."""

import argparse
import sys

from bench import grid, landscape, latency, load, sweep

COMMANDS = {"grid": grid.main, "latency": latency.main, "sweep": sweep.main, "landscape": landscape.main,
            "load": load.main}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("command", choices=list(COMMANDS))
    parser.add_argument("--repeat", type=int, default=None, help="timed repetitions (default: per bench)")
    args = parser.parse_args()
    COMMANDS[args.command](args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
