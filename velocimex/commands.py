"""Subcommand registry: each subcommand lives in its own module and registers here."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    pass
