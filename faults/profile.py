"""Fault profiles: which regions lie, how often, and with which kinds and params.

The format is the origin write-up's, plus optional typed params per kind:

    {"DE": {"probability": 0.7, "types": ["truncate", "slowloris"],
            "params": {"truncate": {"keep_fraction": 0.25, "end": "rst"}}}}

A profile is validated completely when it is loaded (from a file or the control API);
the first problem becomes one ProfileError line naming the source, region, kind and
field, and what to do about it. `{}` is the profile with no faults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.regions import REGIONS, RegionError, parse_region
from faults.errors import ProfileError
from faults.kinds.base import Params
from faults.registry import KINDS, known_kinds

MAX_SHOWN_INPUT = 40


class RegionSpec(BaseModel):
    """One region's entry as written in a profile."""

    model_config = ConfigDict(extra="forbid", strict=True)

    probability: float = Field(ge=0, le=1)
    types: list[str] = Field(min_length=1)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)


@dataclass(frozen=True)
class RegionFaults:
    """One region's validated faults: every kind in `kinds` has its params resolved."""

    probability: float
    kinds: tuple[str, ...]
    params: Mapping[str, Params]

    def as_json(self) -> dict[str, Any]:
        """The entry in profile format, with every param spelled out."""
        params = {kind: self.params[kind].model_dump(mode="json") for kind in self.params}
        return {"probability": self.probability, "types": list(self.kinds), "params": params}


@dataclass(frozen=True)
class Profile:
    """A validated profile; regions absent from it are never faulted."""

    regions: Mapping[str, RegionFaults]

    def as_json(self) -> dict[str, Any]:
        """The profile in its file format, accepted back by parse_profile."""
        return {region: faults.as_json() for region, faults in self.regions.items()}

    def summary(self) -> str:
        """A short line for logs: region, probability and kinds."""
        if not self.regions:
            return "no faults"
        return "; ".join(
            f"{region} p={faults.probability:g} {','.join(faults.kinds)}"
            for region, faults in self.regions.items()
        )


EMPTY_PROFILE = Profile(regions={})


def load_profile(path: Path) -> Profile:
    """Read and validate the profile file at `path`."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ProfileError(
            f"{path}: cannot read the profile ({reason}); pass an existing JSON file"
        ) from None
    return parse_profile(text, str(path))


def parse_profile(text: str | bytes, source: str) -> Profile:
    """Validate profile JSON; `source` names it in the one-line error (a path, an API call)."""
    document = _json_object(text, source)
    regions: dict[str, RegionFaults] = {}
    for key, entry in document.items():
        region = _region(key, source)
        if region in regions:
            raise ProfileError(f"{source}: region {region} appears twice; keep one entry")
        regions[region] = _region_faults(entry, source, region)
    return Profile(regions=regions)


def _json_object(text: str | bytes, source: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except UnicodeDecodeError:
        raise ProfileError(f"{source}: not UTF-8 text; save the profile as UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise ProfileError(
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "fix the syntax"
        ) from None
    if not isinstance(document, dict):
        raise ProfileError(
            f"{source}: a profile is a JSON object keyed by region, like "
            f'{{"DE": {{"probability": 0.5, "types": ["truncate"]}}}}; '
            f"got a JSON {type(document).__name__}"
        )
    return document


def _region(key: str, source: str) -> str:
    try:
        return parse_region(key)
    except RegionError:
        raise ProfileError(
            f"{source}: region {key!r} is not a known region; use one of {' '.join(REGIONS)}"
        ) from None


def _region_faults(entry: Any, source: str, region: str) -> RegionFaults:
    try:
        spec = RegionSpec.model_validate(entry)
    except ValidationError as exc:
        raise _field_error(exc, source, region, kind=None, prefix="") from None

    for field, names in (("types", spec.types), ("params", list(spec.params))):
        for name in names:
            if name not in KINDS:
                raise ProfileError(
                    f"{source}: region {region}, kind {name!r}, field {field}: unknown fault "
                    f"kind; use one of {known_kinds()}"
                )

    params = {kind: _params(spec, source, region, kind) for kind in spec.params}
    resolved = {
        kind: params[kind] if kind in params else KINDS[kind].params_model() for kind in spec.types
    }
    return RegionFaults(spec.probability, tuple(spec.types), resolved)


def _params(spec: RegionSpec, source: str, region: str, kind: str) -> Params:
    try:
        model: Params = KINDS[kind].params_model.model_validate(spec.params[kind])
    except ValidationError as exc:
        raise _field_error(exc, source, region, kind=kind, prefix=f"params.{kind}.") from None
    return model


def _field_error(
    exc: ValidationError, source: str, region: str, kind: str | None, prefix: str
) -> ProfileError:
    error = exc.errors()[0]
    field = prefix + ".".join(str(part) for part in error["loc"]) if error["loc"] else "(entry)"
    shown = repr(error.get("input"))
    if len(shown) > MAX_SHOWN_INPUT:
        shown = shown[: MAX_SHOWN_INPUT - 3] + "..."
    where = f"region {region}" + (f", kind {kind}" if kind else "")
    return ProfileError(
        f"{source}: {where}, field {field}: {error['msg']} (got {shown}); fix that value"
    )
