"""The project's bad-input error: the CLI prints it as one clear line, without a traceback."""
from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (a config value, a path, a flag), named with what was expected."""
