"""``descent-lab``: the installed command. ``descent-lab serve`` serves the dashboard;
``descent-lab export`` makes slides' files (dashboard/exports.py); every other command is
``python -m compute``'s (run, grid, sweep, preview, landscape, fetch-data)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: descent-lab {serve,export,run,grid,sweep,preview,landscape,fetch-data} ...

  serve       serve the dashboard (--host, --port; default http://127.0.0.1:8050)
  export      GIF, MP4, WebM, HTML, PNG or SVG of a toy-lab view (see descent-lab export --help)
  run, grid, sweep, preview, landscape, fetch-data
              the numbers behind every figure (see descent-lab COMMAND --help)
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "serve":
        import app

        app.main(rest)
        return 0
    if command == "export":
        from dashboard import exports

        return exports.main(rest) or 0
    from compute.cli import main as compute_main

    return compute_main(args)


if __name__ == "__main__":
    sys.exit(main())
