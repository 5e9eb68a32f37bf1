"""The command line, one module per command group: ``base`` holds the group,
``init-db`` and ``serve``; the others are loaded when their command is used."""

from bot.cli.base import main

__all__ = ["main"]
