"""The one exception type that the command line turns into a single line on stderr."""

from __future__ import annotations


class CliError(Exception):
    """A failure the user can act on; its message is printed as one line and the exit code is 1."""
