"""The ``workbench`` command line: one thin module per command group over the library.

``core.cli.main`` builds the parser and runs a command; the other modules each
add one group of commands (pipeline, sweep, data, app).
"""
