"""The bounds a verdict is judged against, and the JSON file that overrides some of them."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analysis.errors import BadInputError


class Thresholds(BaseModel):
    """Every bound of the verdict; a thresholds file may set any subset of these keys."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    min_requests: int = Field(default=20, ge=1)
    clean_min_success_rate: float = Field(default=0.995, ge=0.0, le=1.0)
    clean_p95_ms: float = Field(default=1000.0, gt=0.0)
    clean_staleness_p95_s: float = Field(default=30.0, gt=0.0)
    target_p95_ms: float = Field(default=2000.0, gt=0.0)
    min_target_faults: int = Field(default=1, ge=0)


def load_thresholds(path: str | None) -> Thresholds:
    """The defaults, overridden by the keys of the JSON file at `path` when one is given."""
    if path is None:
        return Thresholds()
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BadInputError(
            f"--thresholds {path}: cannot read it ({reason}): give an existing JSON file"
        ) from exc
    try:
        return Thresholds.model_validate_json(text)
    except ValidationError as exc:
        raise BadInputError(f"--thresholds {path}: {_explain(exc)}") from exc


def _explain(exc: ValidationError) -> str:
    """One line for the first problem pydantic found, with the way to fix it."""
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"])
    known = ", ".join(Thresholds.model_fields)
    if error["type"] == "extra_forbidden":
        return f"unknown key {key!r}: use only {known}"
    if error["type"] == "json_invalid":
        return f'not valid JSON ({error["msg"]}): write an object such as {{"clean_p95_ms": 800}}'
    if not key:
        return f"{error['msg']}: write an object with any of {known}"
    default = Thresholds.model_fields[key].default
    return (
        f"{key} = {error['input']!r}: {error['msg']}: fix the value "
        f"or drop the key to keep the default {default}"
    )
