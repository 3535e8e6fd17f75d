"""A request row's region and phase, read from its Locust name with one regular expression.

A storm names its rows `/discover [DE] baseline`, `/discover?q [DE] fault` and, for the
staleness rows, `DE recovery`; runs made before phases existed, and the suite's own
rows without a phase, read as `/discover [DE]` and `DE`. DEFAULT_NAME_PATTERN reads all of
them. Locust CSVs from elsewhere carry the region differently: `--name-pattern` takes
any regex with a named group `region` (two letters, one of REGIONS, any case) and an
optional group `phase` (baseline, fault or recovery). The regex is searched, not matched,
in each name, so it need not describe the whole name. A name it does not find a region
in is left out of the verdict, with a warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import BadInputError
from common import REGIONS

log = logging.getLogger(__name__)

PHASES: tuple[str, ...] = ("baseline", "fault", "recovery")
# The key under which a region's rows of every phase, and rows without a phase, add up.
WHOLE_RUN = "run"
DEFAULT_NAME_PATTERN = (
    r"(?:^|\[)(?P<region>[A-Za-z]{2})\]?(?:\s+(?P<phase>baseline|fault|recovery))?\s*$"
)
EXAMPLES_SHOWN = 3


@dataclass(frozen=True)
class NamePattern:
    """The compiled pattern and the words that name it in messages."""

    regex: re.Pattern[str]
    described_as: str

    @classmethod
    def compile(cls, text: str | None) -> NamePattern:
        """The default pattern for None, else `text` once it proves usable."""
        if text is None:
            return cls(re.compile(DEFAULT_NAME_PATTERN), "the default name pattern")
        where = f"--name-pattern {text!r}"
        try:
            regex = re.compile(text)
        except re.error as exc:
            raise BadInputError(
                f"{where}: not a regular expression ({exc}): fix the pattern"
            ) from exc
        if "region" not in regex.groupindex:
            raise BadInputError(
                f"{where}: no group named region: mark the region's part as (?P<region>..)"
            )
        return cls(regex, where)

    def label(self, names: pd.Series, source: str) -> pd.DataFrame:
        """Categorical columns region and phase (NaN where the name carries none).

        Only distinct names are parsed: a full-history file repeats each name every second.
        """
        codes, uniques = pd.factorize(names, use_na_sentinel=False)
        parsed = [self._parse(str(name)) for name in uniques]
        unread = [
            str(name) for name, (region, _) in zip(uniques, parsed, strict=True) if not region
        ]
        _warn_unread(unread, self.described_as, source)
        region_codes = np.array([_index(REGIONS, region) for region, _ in parsed], dtype=np.int8)
        phase_codes = np.array([_index(PHASES, phase) for _, phase in parsed], dtype=np.int8)
        return pd.DataFrame(
            {
                "region": pd.Categorical.from_codes(
                    region_codes[codes], categories=pd.Index(list(REGIONS))
                ),
                "phase": pd.Categorical.from_codes(
                    phase_codes[codes], categories=pd.Index(list(PHASES))
                ),
            },
            index=names.index,
        )

    def _parse(self, name: str) -> tuple[str | None, str | None]:
        match = self.regex.search(name)
        if match is None or match.group("region") is None:
            return None, None
        region = match.group("region").strip().upper()
        if region not in REGIONS:
            return None, None
        phase = match.groupdict().get("phase")
        if phase is None:
            return region, None
        if phase.strip().lower() not in PHASES:
            log.warning(
                "name %r: phase %r is none of %s: counted in the whole run only",
                name,
                phase,
                " ".join(PHASES),
            )
            return region, None
        return region, phase.strip().lower()


def _warn_unread(names: Iterable[str], described_as: str, source: str) -> None:
    unread = [name for name in names if name and name != "Aggregated"]
    if unread:
        shown = ", ".join(repr(name) for name in unread[:EXAMPLES_SHOWN])
        more = f" and {len(unread) - EXAMPLES_SHOWN} more" if len(unread) > EXAMPLES_SHOWN else ""
        log.warning("%s: no region under %s in %s%s: left out", source, described_as, shown, more)


def _index(known: tuple[str, ...], value: str | None) -> int:
    """The position of value in known, or -1 (a categorical's code for missing)."""
    return known.index(value) if value in known else -1
