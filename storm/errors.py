"""Errors of the storm package, and how a user error leaves the process."""

import sys
from typing import NoReturn


class StormError(Exception):
    """A storm cannot start or finish; the message is one line that says what to change."""


def fail(message: str) -> NoReturn:
    """Report a user error in one line and leave with exit code 2."""
    sys.stderr.write(f"blast-radius: {message}\n")
    sys.stderr.flush()
    raise SystemExit(2)
