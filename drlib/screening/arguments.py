"""Argument types shared by the ``drlib`` subcommands (grade, explain, cache)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """``argparse`` type: a whole number of at least 1, with a message naming the bad value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
