"""Errors of the storm package."""


class StormError(Exception):
    """A storm cannot start or finish; the message is one line that says what to change."""
