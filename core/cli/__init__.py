"""The ``workbench`` command line: one thin module per command group over the library."""

from core.cli.main import main

__all__ = ["main"]
