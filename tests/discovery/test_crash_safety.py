"""Crash safety: SIGKILL the discovery service at random moments of its ingest, again and again.

A real `python -m discovery serve` (hardened ingest) refreshes every region every 0.1 s
from a real upstream whose generation changes every second, so snapshots are swapped,
confirmed and breaker rows written all the time. Each life of the service starts on the
same cache file, lives a seeded random 0 to 300 ms past its ready file and is killed
with SIGKILL: no handler, no rollback, no checkpoint. After each kill the file must hold
for every region one whole snapshot of a generation the upstream published, an intact
database and an FTS5 index equal to its table.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from discovery.catalog import build_catalog
from discovery.store import connect, open_store, replace_snapshot, snapshot_digest
from tests.conftest import ROOT, Service, start_service
from tests.discovery.discovery_http import get

KILLS = 200
BUDGET_S = 80.0
# A machine shared with other work may start the service slowly; fewer kills than this
# within the budget would leave too few moments of the ingest tried.
MIN_KILLS = 60
LANES = 2
MAX_LIFE_S = 0.3
READY_TIMEOUT_S = 20.0
SEED = 20_250_601


@dataclass
class Truth:
    """The upstream's published catalogs, asked once per (region, generation)."""

    url: str
    known: dict[tuple[str, int], dict[str, object]] = field(default_factory=dict)

    def current(self) -> int:
        reply = get(f"{self.url}/truth")
        assert reply.status == 200, reply.body
        return int(reply.json()["generation"])

    def of(self, region: str, generation: int) -> dict[str, object]:
        key = (region, generation)
        if key not in self.known:
            reply = get(f"{self.url}/truth?region={region}&generation={generation}")
            assert reply.status == 200, reply.body
            self.known[key] = reply.json()
        return self.known[key]


@dataclass(frozen=True)
class CacheState:
    """What one check saw: per region (generation, checked_at)."""

    regions: dict[str, tuple[int, float]]

    def generations(self) -> dict[str, int]:
        return {region: generation for region, (generation, _) in self.regions.items()}


def open_read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)


def check_cache(db: Path, truth: Truth, scratch: Path) -> CacheState:
    """Assert every crash-safety property of the cache file; return what it holds."""
    conn = open_read_only(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        state = check_snapshots(conn, truth)
        check_fts_rows(conn)
    finally:
        conn.close()
    check_fts_index(db, scratch)
    return state


def check_snapshots(conn: sqlite3.Connection, truth: Truth) -> CacheState:
    """Each region's rows are exactly the catalog of the generation its metadata names."""
    current = truth.current()
    meta = conn.execute("SELECT region, generation, item_count, checked_at FROM snapshots")
    regions: dict[str, tuple[int, float]] = {}
    for region, generation, item_count, checked_at in meta.fetchall():
        rows, digest = snapshot_digest(conn, region)
        assert 0 <= generation <= current, f"{region}: generation {generation} not published"
        published = truth.of(region, generation)
        assert rows == item_count, f"{region}: {rows} rows, snapshot says {item_count}"
        assert (rows, digest) == (published["item_count"], published["digest"]), (
            f"{region}: rows are not generation {generation} as the upstream published it"
        )
        regions[region] = (generation, checked_at)
    orphans = {row[0] for row in conn.execute("SELECT DISTINCT region FROM items")} - set(regions)
    assert not orphans, f"rows without a snapshot for {sorted(orphans)}"
    return CacheState(regions)


def check_fts_rows(conn: sqlite3.Connection) -> None:
    """The index holds one document per item row (its docsize table counts documents)."""
    items = conn.execute("SELECT count(*), max(row_id) FROM items").fetchone()
    documents = conn.execute("SELECT count(*), max(id) FROM items_fts_docsize").fetchone()
    assert documents == items, f"FTS documents {documents} != item rows {items} (count, max id)"


def check_fts_index(db: Path, scratch: Path) -> None:
    """FTS5's own integrity-check, against the items table too (rank 1).

    The command is an INSERT, refused on a read-only connection, so it runs on a copy of
    the database and its WAL, taken while no process has the file open.
    """
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    for suffix in ("", "-wal"):
        source = db.with_name(db.name + suffix)
        if source.exists():
            shutil.copyfile(source, scratch / (db.name + suffix))
    copy = sqlite3.connect(scratch / db.name, isolation_level=None)
    try:
        copy.execute("INSERT INTO items_fts (items_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.DatabaseError as exc:
        raise AssertionError(f"FTS5 integrity-check failed: {exc}") from exc
    finally:
        copy.close()


def start_life(upstream: str, db: Path, folder: Path, life: int) -> subprocess.Popen[bytes]:
    """Start one life of the service and return once its ready file exists."""
    ready = folder / f"ready-{life}.json"
    cmd = [
        sys.executable, "-m", "discovery", "serve", "--upstream", upstream, "--db", str(db),
        "--interval-s", "0.1", "--listen", "0", "--ready-file", str(ready),
        "--parent-pid", str(os.getpid()),
    ]  # fmt: skip
    with (folder / "discovery.log").open("ab") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"life {life} never became ready: {log_tail(folder)}")
        time.sleep(0.005)
    ready.unlink()
    return proc


def log_tail(folder: Path) -> str:
    return " | ".join((folder / "discovery.log").read_text(errors="replace").splitlines()[-5:])


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("upstream")
    service = start_service(["discovery", "upstream", "--generation-s", "1"], folder)
    try:
        yield service
    finally:
        service.stop()


@dataclass
class Tally:
    """How many kills a lane made, and in how many lives the ingest had committed writes."""

    kills: int = 0
    lives_that_wrote: int = 0
    lives_that_swapped: int = 0


@dataclass(frozen=True)
class Lane:
    """One cache file killed over and over; lanes run side by side to fit the budget."""

    number: int
    upstream: str
    folder: Path
    truth: Truth
    kills: int
    until: float
    stop: threading.Event

    def run(self) -> Tally:
        try:
            return self._kill_repeatedly()
        except BaseException:
            self.stop.set()
            raise

    def _kill_repeatedly(self) -> Tally:
        rng = random.Random(SEED + self.number)
        self.folder.mkdir()
        db = self.folder / "cache.db"
        tally = Tally()
        previous = CacheState({})
        while tally.kills < self.kills and time.monotonic() < self.until:
            if self.stop.is_set():
                break
            proc = start_life(self.upstream, db, self.folder, tally.kills)
            time.sleep(rng.uniform(0.0, MAX_LIFE_S))
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
            tally.kills += 1

            state = check_cache(db, self.truth, self.folder / "scratch")
            tally.lives_that_wrote += state.regions != previous.regions
            tally.lives_that_swapped += state.generations() != previous.generations()
            previous = state
        return tally


def test_sigkill_during_ingest_never_leaves_a_partial_snapshot(
    upstream: Service, tmp_path: Path
) -> None:
    truth = Truth(upstream.url)
    until = time.monotonic() + BUDGET_S
    stop = threading.Event()
    lanes = [
        Lane(n, upstream.url, tmp_path / f"lane{n}", truth, KILLS // LANES, until, stop)
        for n in range(LANES)
    ]
    with ThreadPoolExecutor(LANES) as pool:
        tallies = [future.result() for future in [pool.submit(lane.run) for lane in lanes]]

    kills = sum(t.kills for t in tallies)
    wrote = sum(t.lives_that_wrote for t in tallies)
    swapped = sum(t.lives_that_swapped for t in tallies)
    print(f"crash safety: {kills} kills, {wrote} lives wrote, {swapped} swapped a snapshot")
    assert kills >= MIN_KILLS, f"only {kills} kills within {BUDGET_S:g} s"
    # The kills must have landed among writes, not before the ingest began.
    assert wrote >= kills // 2, tallies
    assert swapped >= kills // 5, tallies


# -- the checks themselves can fail ------------------------------------------------------


FTS_DELETE = (
    "INSERT INTO items_fts (items_fts, rowid, title, description) VALUES ('delete', ?, ?, ?)"
)


@pytest.fixture
def filled(tmp_path: Path, upstream: Service) -> Path:
    db = tmp_path / "filled.db"
    open_store(db).close()
    conn = connect(db)
    for region in ("DE", "JP"):
        items = build_catalog(1, region, 0)
        replace_snapshot(conn, region, items, generation=0, fetched_at=1.0, last_modified=None)
    conn.close()
    return db


def test_the_check_accepts_whole_snapshots(filled: Path, upstream: Service, tmp_path: Path) -> None:
    state = check_cache(filled, Truth(upstream.url), tmp_path / "scratch")
    assert sorted(state.regions) == ["DE", "JP"]


def test_the_check_sees_a_snapshot_missing_a_row(
    filled: Path, upstream: Service, tmp_path: Path
) -> None:
    conn = connect(filled)
    conn.execute("DELETE FROM items WHERE row_id = (SELECT max(row_id) FROM items)")
    conn.close()

    with pytest.raises(AssertionError, match="rows, snapshot says"):
        check_cache(filled, Truth(upstream.url), tmp_path / "scratch")


def test_the_check_sees_rows_of_another_generation(
    filled: Path, upstream: Service, tmp_path: Path
) -> None:
    conn = connect(filled)
    conn.execute("UPDATE snapshots SET generation = 5 WHERE region = 'DE'")
    conn.close()

    with pytest.raises(AssertionError, match="not generation 5"):
        check_cache(filled, Truth(upstream.url), tmp_path / "scratch")


def test_the_check_sees_an_index_out_of_step_with_its_table(
    filled: Path, upstream: Service, tmp_path: Path
) -> None:
    conn = connect(filled)
    row = conn.execute("SELECT row_id, title, description FROM items LIMIT 1").fetchone()
    conn.execute(FTS_DELETE, row)
    conn.execute(
        "INSERT INTO items_fts (rowid, title, description) VALUES (?, 'indexed', 'elsewhere')",
        row[:1],
    )
    conn.close()

    with pytest.raises(AssertionError, match="FTS5 integrity-check failed"):
        check_cache(filled, Truth(upstream.url), tmp_path / "scratch")


def test_the_check_sees_an_index_missing_documents(
    filled: Path, upstream: Service, tmp_path: Path
) -> None:
    conn = connect(filled)
    row = conn.execute("SELECT row_id, title, description FROM items LIMIT 1").fetchone()
    conn.execute(FTS_DELETE, row)
    conn.close()

    with pytest.raises(AssertionError, match="FTS documents"):
        check_cache(filled, Truth(upstream.url), tmp_path / "scratch")
