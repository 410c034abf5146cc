"""The ``promptshelf`` command line (the top layer): ``commands`` holds the group and the prompt commands,
``files`` export, import and copy, ``output`` the printing. ``main`` is the console entry point."""

from promptshelf.cli.commands import main

__all__ = ["main"]
