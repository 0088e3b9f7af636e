"""Argument types and exit codes shared by every command: one-line refusals, never tracebacks."""

from __future__ import annotations

import argparse
from pathlib import Path

EXIT_USAGE = 2
EXIT_FAILED = 1


def parse_bool(text: str) -> bool:
    """Parse the original script's ``True``/``False`` strings (case-insensitive; 1/0 and yes/no too)."""
    value = str(text).strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def unit_float(text: str) -> float:
    """Parse a number in [0, 1] (``--softctr``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def positive_int(text: str) -> int:
    """Parse a whole number above 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def mask_mode(text: str) -> str:
    """Parse ``soft`` or ``hard``; the original's ``binary`` means ``hard``."""
    if text == "soft":
        return "soft"
    if text in ("hard", "binary"):
        return "hard"
    raise argparse.ArgumentTypeError(f"expected soft or hard (binary), got {text!r}")


def add_db_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--db``, the SQLite store a command reads or writes (its default is :func:`core.settings.db_path`'s)."""
    parser.add_argument("--db", type=Path, help="SQLite store (default: $WORKBENCH_DB or runs/workbench.db)")
