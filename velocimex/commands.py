"""Subcommand registry: each subcommand lives in its own module and registers here."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from velocimex import replay_cmd

    replay_cmd.register(sub)
    from velocimex.generate import command as generate_cmd

    generate_cmd.register(sub)
    from velocimex.exchange import command as exchange_cmd

    exchange_cmd.register(sub)
    from velocimex.control import serve as serve_cmd

    serve_cmd.register(sub)
    from velocimex.feed import command as feed_cmd

    feed_cmd.register(sub)
    from velocimex.control import backtest_cmd

    backtest_cmd.register(sub)
    from velocimex.control import strategy_process

    strategy_process.register(sub)
    from velocimex.hwsw_bench import command as bench_cmd

    bench_cmd.register(sub)
