"""The ingest cron: one independent asyncio task per region.

Regions never share a loop iteration, a lock held across network IO or a connection
pool, so one region's hanging, slow or failing upstream cannot delay another's refresh.
The serial_loop bug replaces the tasks with one loop over every region in turn.
"""

from __future__ import annotations

import asyncio
import logging
import time

from discovery.ingest import Ingestor, IngestOutcome, Outcome, log_outcome

logger = logging.getLogger(__name__)


async def refresh_forever(ingestor: Ingestor, region: str, interval_s: float) -> None:
    """Refresh `region` every `interval_s` (sooner never; later only after a slow attempt)."""
    while True:
        started = time.monotonic()
        await refresh_once(ingestor, region)
        elapsed_s = time.monotonic() - started
        await asyncio.sleep(max(0.0, interval_s - elapsed_s))


async def refresh_once(ingestor: Ingestor, region: str) -> IngestOutcome:
    """Run one refresh and log its outcome; a bug in an ingestor never ends the loop."""
    try:
        outcome = await ingestor.refresh(region)
    except Exception as exc:  # logged with its traceback; the region keeps refreshing
        logger.exception("ingest of %s raised", region)
        outcome = IngestOutcome(region, Outcome.FAILED, "internal", detail=repr(exc))
    log_outcome(outcome)
    return outcome


async def refresh_all_forever(
    ingestor: Ingestor, regions: tuple[str, ...], interval_s: float
) -> None:
    """serial_loop: refresh every region in turn, then wait out the rest of `interval_s`.

    A region whose attempt takes the whole deadline holds every region behind it.
    """
    while True:
        started = time.monotonic()
        for region in regions:
            await refresh_once(ingestor, region)
        elapsed_s = time.monotonic() - started
        await asyncio.sleep(max(0.0, interval_s - elapsed_s))


def start_cron(
    ingestor: Ingestor, regions: tuple[str, ...], interval_s: float, serial: bool = False
) -> list[asyncio.Task[None]]:
    """Start one refresh task per region (one task for all with `serial`) and return them
    (cancel them to stop)."""
    if serial:
        loop = refresh_all_forever(ingestor, regions, interval_s)
        return [asyncio.create_task(loop, name="ingest-serial")]
    return [
        asyncio.create_task(refresh_forever(ingestor, region, interval_s), name=f"ingest-{region}")
        for region in regions
    ]


async def stop_cron(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the refresh tasks and wait until each has ended."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
