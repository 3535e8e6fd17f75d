"""The ledger: one CSV row per fault actually injected, flushed as it is written.

`bytes_promised` is what the Content-Length header said and `bytes_written` the body
bytes handed to the connection, so a reader can tell a short body from a long one
without trusting either side's account. `end` says how the connection ended and
`connection` what the lie left it fit for (reusable, closed, poisoned). Columns are
only ever added at the end, so readers that index them by name or position keep
working.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from faults.errors import UsageError

COLUMNS = (
    "time",
    "region",
    "kind",
    "method",
    "path",
    "status",
    "bytes_promised",
    "bytes_written",
    "end",
    "connected_ms",
    "params",
    "connection",
)
MAX_PATH_CHARS = 200


@dataclass(frozen=True)
class LedgerRow:
    """One injected fault; `time` is when its request arrived, in unix seconds."""

    time: float
    region: str
    kind: str
    method: str
    path: str
    status: int
    bytes_promised: int | None
    bytes_written: int
    end: str
    connected_ms: float
    params: dict[str, Any]
    connection: str

    def values(self) -> list[str]:
        """The row's cells, in COLUMNS order."""
        return [
            f"{self.time:.6f}",
            self.region,
            self.kind,
            self.method,
            sanitized_path(self.path),
            str(self.status),
            "" if self.bytes_promised is None else str(self.bytes_promised),
            str(self.bytes_written),
            self.end,
            f"{self.connected_ms:.1f}",
            json.dumps(self.params, sort_keys=True, separators=(",", ":")),
            self.connection,
        ]


def sanitized_path(path: str) -> str:
    """The request path safe for a CSV cell and a log line: printable and bounded."""
    printable = "".join(char if char.isprintable() else "?" for char in path)
    if len(printable) > MAX_PATH_CHARS:
        return printable[: MAX_PATH_CHARS - 3] + "..."
    return printable


class Ledger:
    """The CSV file, or nothing when no path was given."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._writer: Any = None

    def open(self) -> None:
        """Create the file and write the header row; raise UsageError if it cannot be made."""
        if self.path is None:
            return
        try:
            self._file = self.path.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise UsageError(
                f"--ledger {self.path}: cannot create the file ({reason}); "
                "pass a path in an existing, writable folder"
            ) from None
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._file.flush()

    def record(self, row: LedgerRow) -> None:
        """Append one row and flush it, so a killed proxy loses no fault."""
        if self._file is None:
            return
        self._writer.writerow(row.values())
        self._file.flush()

    def close(self) -> None:
        """Close the file; later rows are dropped."""
        if self._file is not None:
            self._file.close()
            self._file = None
