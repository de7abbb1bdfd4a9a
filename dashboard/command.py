"""``descent-lab``: the installed command. ``descent-lab serve`` serves the dashboard;
``descent-lab export`` makes slides' files (dashboard/exports.py); every other command is
``python -m compute``'s (listed from its parser: run, grid, sweep, preview, curvature, landscape,
fetch-data)."""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence


def usage() -> str:
    """The command's help: its own two commands and every command of ``python -m compute``."""
    from compute.cli import NET_CURVATURE, build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")  # argparse's subparsers action
    compute = [name for name in sub.choices if name != NET_CURVATURE]  # (reached as curvature --model)
    return (f"usage: descent-lab {{serve,export,{','.join(compute)}}} ...\n\n"
            "  serve       serve the dashboard (--host, --port; default http://127.0.0.1:8050)\n"
            "  export      GIF, MP4, WebM, HTML, PNG or SVG of a toy-lab view (see descent-lab export --help)\n"
            f"  {', '.join(compute)}\n"
            "              the numbers behind every figure (see descent-lab COMMAND --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "serve":  # app.py as a program, as `python app.py` runs it (the app is the top of the house)
        sys.argv = ["descent-lab serve", *rest]
        runpy.run_module("app", run_name="__main__", alter_sys=True)
        return 0
    if command == "export":
        from dashboard import exports

        return exports.main(rest) or 0
    from compute.cli import main as compute_main

    return compute_main(args)


if __name__ == "__main__":
    sys.exit(main())
