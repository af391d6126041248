"""Velocimex: NASDAQ ITCH 5.0 feed handling in RTL and software, with a trading control plane."""

__version__ = "0.1.0"
