"""Fault profiles: which regions lie, how often, and with which kinds and params.

The format is the origin write-up's, plus optional typed params per kind:

    {"DE": {"probability": 0.7, "types": ["truncate", "slowloris"],
            "params": {"truncate": {"keep_fraction": 0.25, "end": "rst"}}}}

A profile is validated completely when it is loaded (from a file or the control API);
the first problem becomes one ProfileError line naming the source, region, kind and
field, and what to do about it. `{}` is the profile with no faults.

Every token of the input that reaches a message is shown with repr() and cut to a few
dozen characters, so an error is always one line of bounded length however hostile the
profile. The size, the nesting and the length of `types` are bounded too: a profile is a
few hundred bytes, and a huge one would cost memory and log lines in a long-lived proxy.
"""

from __future__ import annotations

import json
from collections import Counter
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
MAX_SHOWN_TEXT = 200
# The storm refuses profile files above the same size.
MAX_PROFILE_BYTES = 256 * 1024
# A kind may repeat in `types` to weigh it; 64 entries weigh finely enough.
MAX_TYPES = 64
# A valid profile nests four levels (region, params, kind, value); a little room for lists.
MAX_NESTING = 8


class RegionSpec(BaseModel):
    """One region's entry as written in a profile."""

    model_config = ConfigDict(extra="forbid", strict=True)

    probability: float = Field(ge=0, le=1)
    types: list[str] = Field(min_length=1, max_length=MAX_TYPES)
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
        """A short line for logs: region, probability and kinds (a repeated kind once, `*n`).

        Its length is bounded by the regions and the known kinds, whatever `types` holds.
        """
        if not self.regions:
            return "no faults"
        return "; ".join(
            f"{region} p={faults.probability:g} {_weighed(faults.kinds)}"
            for region, faults in self.regions.items()
        )


def _weighed(kinds: tuple[str, ...]) -> str:
    counts = Counter(kinds)
    return ",".join(kind if counts[kind] == 1 else f"{kind}*{counts[kind]}" for kind in counts)


EMPTY_PROFILE = Profile(regions={})


def load_profile(path: Path) -> Profile:
    """Read and validate the profile file at `path`."""
    source = shown_text(str(path))
    try:
        with path.open("rb") as handle:
            # One byte more than allowed tells a file that is too large without reading it all.
            text = handle.read(MAX_PROFILE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ProfileError(
            f"{source}: cannot read the profile ({reason}); pass an existing JSON file"
        ) from None
    return parse_profile(text, source)


def check_profile_size(size_bytes: int, source: str) -> None:
    """Raise ProfileError for a profile of more than MAX_PROFILE_BYTES."""
    if size_bytes > MAX_PROFILE_BYTES:
        raise ProfileError(
            f"{source}: larger than {MAX_PROFILE_BYTES // 1024} KiB; a profile names a few "
            "regions and kinds, pass a smaller one"
        )


def parse_profile(text: str | bytes, source: str) -> Profile:
    """Validate profile JSON; `source` names it in the one-line error (a path, an API call)."""
    size_bytes = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "replace"))
    check_profile_size(size_bytes, source)
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
        document = json.loads(
            text, parse_constant=_refuse_constant, object_pairs_hook=_refuse_repeated_keys
        )
    except RecursionError:
        raise _too_deep(source) from None
    except UnicodeDecodeError:
        raise ProfileError(f"{source}: not UTF-8 text; save the profile as UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise ProfileError(
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "fix the syntax"
        ) from None
    except _RepeatedKeyError as exc:
        raise ProfileError(
            f"{source}: key {shown(str(exc))} appears twice in one object; keep one"
        ) from None
    except _NonFiniteError as exc:
        raise ProfileError(
            f"{source}: not valid JSON ({exc} is no JSON number); write a finite number"
        ) from None
    except ValueError:
        # Python refuses integers of more than 4300 digits while it parses them.
        raise ProfileError(
            f"{source}: not valid JSON (a number too long to read); write a short number"
        ) from None
    if _nesting(document) > MAX_NESTING:
        raise _too_deep(source)
    if not isinstance(document, dict):
        raise ProfileError(
            f"{source}: a profile is a JSON object keyed by region, like "
            f'{{"DE": {{"probability": 0.5, "types": ["truncate"]}}}}; '
            f"got a JSON {type(document).__name__}"
        )
    return document


class _NonFiniteError(Exception):
    """NaN, Infinity or -Infinity in a profile: Python's json reads them, RFC 8259 does not."""


def _refuse_constant(literal: str) -> Any:
    raise _NonFiniteError(literal)


class _RepeatedKeyError(Exception):
    """A key given twice in one JSON object: json keeps the last, silently."""


def _refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKeyError(key)
            seen.add(key)
    return document


def _too_deep(source: str) -> ProfileError:
    return ProfileError(
        f"{source}: nested deeper than {MAX_NESTING} levels; a profile is "
        "region -> entry -> params -> kind -> value, flatten it"
    )


def _nesting(document: Any) -> int:
    """How deep arrays and objects nest in `document`, walked without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_NESTING:
                break
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    return deepest


def shown(value: Any, limit: int = MAX_SHOWN_INPUT) -> str:
    """`value` as a message shows it: its repr, on one line and cut to `limit` characters."""
    return _cut(repr(value), limit)


def shown_text(text: str, limit: int = MAX_SHOWN_TEXT) -> str:
    """`text` as is when it is printable, else its repr; cut to `limit` characters."""
    return _cut(text if text.isprintable() else repr(text), limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _loc_part(part: int | str) -> str:
    if isinstance(part, int):
        return str(part)
    if part.isidentifier() and len(part) <= MAX_SHOWN_INPUT:
        return part
    return shown(part)


def _region(key: str, source: str) -> str:
    try:
        return parse_region(key)
    except RegionError:
        raise ProfileError(
            f"{source}: region {shown(key)} is not a known region; use one of {' '.join(REGIONS)}"
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
                    f"{source}: region {region}, kind {shown(name)}, field {field}: unknown fault "
                    f"kind; use one of {known_kinds()}"
                )

    for kind in spec.params:
        if kind not in spec.types:
            raise ProfileError(
                f"{source}: region {region}, kind {kind}, field params: params for a kind "
                f"the region does not draw; add {kind} to types or drop its params"
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
    loc = error["loc"]
    field = prefix + ".".join(_loc_part(part) for part in loc) if loc else "(entry)"
    where = f"region {region}" + (f", kind {kind}" if kind else "")
    # pydantic's message may quote the input; only its printable first line is kept.
    message = shown_text(error["msg"].splitlines()[0] if error["msg"] else "invalid")
    return ProfileError(
        f"{source}: {where}, field {field}: {message} (got {shown(error.get('input'))}); "
        "fix that value"
    )
