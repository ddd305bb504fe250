"""Errors that the CLI reports as one line.

Every error a user can cause by bad input derives from :class:`ToolkitError`. The CLI prints
``error: <message>`` and exits with status 2, with no traceback. A message names what was wrong
and how to fix it.
"""

from __future__ import annotations


class ToolkitError(Exception):
    """A user-facing error with a one-line message."""

    def __init__(self, message: str) -> None:
        if "\n" in message:
            message = " ".join(part.strip() for part in message.splitlines() if part.strip())
        super().__init__(message)


class ModelLoadError(ToolkitError):
    """A model or tokenizer could not be loaded from the given spec."""


class StoreError(ToolkitError):
    """An HDF5 activation store is missing, corrupt, or incompatible with the request."""


class InputError(ToolkitError):
    """A user-supplied file or argument is malformed."""
