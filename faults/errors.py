"""The exceptions of the fault proxy; each user-facing one carries a single line to print."""

from __future__ import annotations


class FaultsError(Exception):
    """Base of every error the fault proxy raises on purpose."""


class UsageError(FaultsError):
    """A bad command-line option, file or profile: the message is one line that says the fix."""


class ProfileError(UsageError):
    """A fault profile that does not validate; the message names its source, region and field."""


class UpstreamError(FaultsError):
    """The configured upstream could not be reached or did not answer in time."""
