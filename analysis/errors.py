"""The analysis' exception tree: every user error is one line that says what to change."""

from __future__ import annotations


class AnalysisError(Exception):
    """Base of every error the analysis raises on purpose."""


class BadInputError(AnalysisError, ValueError):
    """A run folder, option or thresholds file the analysis cannot use.

    The message is a single line naming the input, what is wrong with it and what to do;
    the CLI prints it as is and exits 2, and nothing has been written when it is raised.
    """
