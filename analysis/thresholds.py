"""The bounds a verdict is judged against, per role and optionally per region.

A thresholds file (JSON, or TOML when its name ends in `.toml`) may set any subset:

    [clean]                  # every clean region
    min_success_rate = 0.999
    [target]                 # the region under fault
    recovery_s = 20
    [regions.BR]             # one region, whichever role it has in a run
    p95_ms = 2500

A key under `regions.XX` overrides that key of the role XX has in the run being judged,
and is ignored for the other role, so one file serves storms that rotate the target.
The defaults are the origin write-up's: a clean region keeps 99.5 % success.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analysis.errors import BadInputError
from common import parse_region

# Keys and values of the file are echoed cut to MAX_SHOWN_INPUT characters, a
# validator's own message (naming an unknown region) to MAX_SHOWN_MESSAGE.
MAX_SHOWN_INPUT = 40
MAX_SHOWN_MESSAGE = 200


class _Bounds(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class CleanThresholds(_Bounds):
    """What a clean region must keep during the fault window."""

    min_requests: int = Field(default=20, ge=1)
    # A Wilson lower bound never reaches 1, so a bound of 1 could never pass.
    min_success_rate: float = Field(default=0.995, gt=0.0, lt=1.0)
    p95_ms: float = Field(default=1000.0, gt=0.0)
    p95_ratio: float = Field(default=3.0, ge=1.0)
    # Below this p95 the ratio to the baseline is not judged: 3 ms against 6 ms is noise.
    p95_ratio_floor_ms: float = Field(default=50.0, ge=0.0)
    staleness_p95_s: float = Field(default=30.0, gt=0.0)
    # The fault window's staleness p95 over the baseline's, each raised to the floor first.
    staleness_ratio: float = Field(default=1.5, ge=1.0)
    staleness_ratio_floor_s: float = Field(default=2.0, ge=0.0)


class TargetThresholds(_Bounds):
    """What the region under fault must keep: honest answers, bounded waits, a recovery."""

    min_requests: int = Field(default=20, ge=1)
    p95_ms: float = Field(default=2000.0, gt=0.0)
    ingest_deadline_ms: float = Field(default=5000.0, gt=0.0)
    # The kinds that hold an ingest connection open: their ledger connected_ms is how long
    # the ingest waited before its deadline (or the fault) ended the attempt.
    deadline_kinds: list[str] = Field(
        default_factory=lambda: ["slowloris", "dribble_then_reset"], min_length=1
    )
    min_faults: int = Field(default=1, ge=0)
    recovery_s: float = Field(default=30.0, gt=0.0)
    # Requests to the target's upstream in the fault window over the clean regions' median:
    # a failing upstream must not be asked more often than a healthy one.
    upstream_pressure_ratio: float = Field(default=1.5, ge=1.0)
    # Fewer clean requests than this in the fault window are too few to compare with.
    upstream_pressure_min_requests: int = Field(default=4, ge=1)
    # Under false_recovery: the median number of failing requests a client may send after
    # a good answer that ended a quiet spell, before it backs off again.
    false_recovery_failures: float = Field(default=1.0, ge=0.0)


BoundsT = TypeVar("BoundsT", CleanThresholds, TargetThresholds)
ROLE_MODELS: dict[str, type[_Bounds]] = {"clean": CleanThresholds, "target": TargetThresholds}
REGION_KEYS = sorted(set(CleanThresholds.model_fields) | set(TargetThresholds.model_fields))


class Thresholds(_Bounds):
    """Every bound of the verdict: one set per role, and per-region overrides."""

    clean: CleanThresholds = Field(default_factory=CleanThresholds)
    target: TargetThresholds = Field(default_factory=TargetThresholds)
    regions: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("regions")
    @classmethod
    def _known_regions(cls, regions: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {parse_region(name): keys for name, keys in regions.items()}

    def for_clean(self, region: str) -> CleanThresholds:
        return _merged(self.clean, self.regions.get(region, {}))

    def for_target(self, region: str) -> TargetThresholds:
        return _merged(self.target, self.regions.get(region, {}))


def load_thresholds(path: str | None) -> Thresholds:
    """The defaults, overridden by the file at `path` when one is given."""
    if path is None:
        return Thresholds()
    where = f"--thresholds {path}"
    data = _parse(Path(path), where)
    try:
        thresholds = Thresholds.model_validate(data)
    except ValidationError as exc:
        raise BadInputError(f"{where}: {_explain(exc, ())}") from exc
    for region, keys in thresholds.regions.items():
        _check_region_keys(thresholds, region, keys, where)
    return thresholds


def _parse(path: Path, where: str) -> object:
    try:
        text = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BadInputError(
            f"{where}: cannot read it ({reason}): give an existing JSON or TOML file"
        ) from exc
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(text.decode("utf-8", errors="replace"))
        except tomllib.TOMLDecodeError as exc:
            raise BadInputError(
                f"{where}: not valid TOML ({exc}): write tables such as [clean] p95_ms = 800"
            ) from exc
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInputError(
            f'{where}: not valid JSON ({exc}): write an object such as {{"clean": '
            f'{{"p95_ms": 800}}}}, or name a TOML file *.toml'
        ) from exc


def _check_region_keys(
    thresholds: Thresholds, region: str, keys: dict[str, Any], where: str
) -> None:
    """Validate an override against both roles now, not when a run happens to use it."""
    prefix = ("regions", region)
    unknown = sorted(set(keys) - set(REGION_KEYS))
    if unknown:
        raise BadInputError(
            f"{where}: unknown key {_shown_value('.'.join((*prefix, unknown[0])))}: "
            f"use only {', '.join(REGION_KEYS)}"
        )
    try:
        _merged(thresholds.clean, keys)
    except ValidationError as exc:
        raise BadInputError(f"{where}: {_explain(exc, prefix, 'clean')}") from exc
    try:
        _merged(thresholds.target, keys)
    except ValidationError as exc:
        raise BadInputError(f"{where}: {_explain(exc, prefix, 'target')}") from exc


def _merged(base: BoundsT, overrides: dict[str, Any]) -> BoundsT:
    applicable = {key: value for key, value in overrides.items() if key in type(base).model_fields}
    if not applicable:
        return base
    return type(base).model_validate({**base.model_dump(), **applicable})


def _explain(exc: ValidationError, prefix: tuple[str, ...], role: str | None = None) -> str:
    """One line for the first problem pydantic found, with the way to fix it.

    Keys and values of the file are echoed with repr() and cut short, so a key with a
    newline or a value of 100 KB still gives one short line.
    """
    error = exc.errors()[0]
    loc = tuple(str(part) for part in error["loc"])
    key = _shown_key((*prefix, *loc))
    if error["type"] == "extra_forbidden":
        unknown = _shown_value(".".join((*prefix, *loc)))
        return f"unknown key {unknown}: use only {', '.join(_known_keys(loc))}"
    if error["type"] == "value_error":
        reason = str(error.get("ctx", {}).get("error", error["msg"]))
        return f"{key}: {_cut(' '.join(reason.split()), MAX_SHOWN_MESSAGE)}"
    if not loc:
        return f"{error['msg']}: write an object with any of clean, target, regions"
    default = _default(loc, role)
    keep = "" if default is None else f" or drop the key to keep the default {default}"
    return f"{key} = {_shown_value(error['input'])}: {error['msg']}: fix the value{keep}"


def _shown_value(value: object) -> str:
    """A value of the file as a message echoes it: its repr, cut short."""
    return _cut(repr(value), MAX_SHOWN_INPUT)


def _shown_key(parts: tuple[str, ...]) -> str:
    """A dotted key as is when it is printable, else its repr; cut short."""
    key = ".".join(parts)
    return _cut(key if key.isprintable() else repr(key), MAX_SHOWN_INPUT)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _known_keys(loc: tuple[str, ...]) -> list[str]:
    if len(loc) >= 2 and loc[0] in ROLE_MODELS:
        return list(ROLE_MODELS[loc[0]].model_fields)
    return list(Thresholds.model_fields)


def _default(loc: tuple[str, ...], role: str | None) -> object:
    """The default of the key at loc, in the role's model, or None when it has none."""
    model: type[_Bounds] | None = ROLE_MODELS.get(role) if role else ROLE_MODELS.get(loc[0])
    name = loc[-1] if role else (loc[1] if len(loc) >= 2 else "")
    if model is None or name not in model.model_fields:
        return None
    return model().model_dump()[name]
