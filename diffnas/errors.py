"""Errors that the CLI turns into one line and exit code 2 (bad input)."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: a config key, a spec field, a file. ``str(err)`` is the one line shown."""

    def __init__(self, field: str, message: str) -> None:
        field = str(field)
        if len(field) > 160:  # a field may come from user input (an unknown key): keep the line short
            field = field[:60] + "..." + field[-97:]
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)
