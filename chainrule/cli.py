"""The ``chainrule`` command line: ``chainrule tour`` (also ``python -m chainrule tour``)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad arguments, as argparse does)."""
    parser = argparse.ArgumentParser(prog="chainrule", description="Computational graphs and backpropagation.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tour", help="walk through the lecture's examples, backward pass narrated gate by gate")
    args = parser.parse_args(argv)
    if args.command == "tour":
        from . import tour

        tour.run(sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
