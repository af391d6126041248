"""The one command-line entry point: ``velocimex <subcommand>``."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="velocimex",
        description=(
            "NASDAQ ITCH 5.0 feed handling in RTL and software, with a trading control plane."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from velocimex import commands

    commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
