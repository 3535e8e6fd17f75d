"""An ingest outcome is one short log line, whatever the upstream put in its detail."""

from __future__ import annotations

import logging

import pytest

from discovery.ingest import IngestOutcome, Outcome, log_outcome
from discovery.ingest.outcome import MAX_DETAIL_CHARS


def test_a_huge_detail_with_newlines_is_one_bounded_line(caplog: pytest.LogCaptureFixture) -> None:
    detail = "asked for DE, got a catalog of 'x\nFAKE ingest region=US outcome=fetched" + "y" * 5000
    caplog.set_level(logging.INFO, logger="discovery.ingest")

    log_outcome(IngestOutcome("DE", Outcome.FAILED, "region", detail=detail))

    (message,) = [record.getMessage() for record in caplog.records]
    assert "\n" not in message and "\\nFAKE ingest" in message
    assert len(message) < MAX_DETAIL_CHARS + 200
    assert message.endswith(f"({len(detail) + 1 - MAX_DETAIL_CHARS} more chars)")


def test_a_short_detail_is_kept_whole(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="discovery.ingest")

    log_outcome(IngestOutcome("DE", Outcome.FAILED, "deadline", detail="no answer within 3 s"))

    assert caplog.records[0].getMessage().endswith("detail=no answer within 3 s")
