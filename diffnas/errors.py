"""Errors that the CLI turns into one line and exit code 2 (bad input)."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: a config key, a spec field, a file. ``str(err)`` is the one line shown."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)
