"""Profile validation: every mistake is one line naming the source, region, kind and field."""

from __future__ import annotations

import json
import math
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from faults.errors import ProfileError
from faults.kinds.truncate import TruncateParams
from faults.profile import load_profile, parse_profile
from faults.registry import KINDS
from tests.conftest import ROOT
from tests.faults.support import run_faults

SOURCE = "profiles/test.json"
ORIGIN_EXAMPLE = {
    "DE": {"probability": 0.7, "types": ["truncate", "lie_length", "slowloris", "valid_garbage"]}
}


def _error(profile: object) -> str:
    text = profile if isinstance(profile, str) else json.dumps(profile)
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, SOURCE)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{SOURCE}: ")
    return message


def test_origin_format_is_accepted_with_default_params() -> None:
    profile = parse_profile(json.dumps(ORIGIN_EXAMPLE), SOURCE)

    faults = profile.regions["DE"]
    assert faults.probability == 0.7
    assert faults.kinds == ("truncate", "lie_length", "slowloris", "valid_garbage")
    assert faults.params["truncate"] == TruncateParams()


def test_region_names_are_normalized() -> None:
    profile = parse_profile('{"de": {"probability": 1, "types": ["flap"]}}', SOURCE)

    assert list(profile.regions) == ["DE"]


def test_empty_object_is_the_profile_without_faults() -> None:
    assert parse_profile("{}", SOURCE).regions == {}


def test_profile_round_trips_through_its_json() -> None:
    profile = parse_profile(
        json.dumps({"FR": {"probability": 0.5, "types": ["truncate"], "params": {"truncate": {}}}}),
        SOURCE,
    )

    assert parse_profile(json.dumps(profile.as_json()), SOURCE) == profile


def test_not_json_is_refused() -> None:
    assert "not valid JSON" in _error('{"DE": ')


def test_not_an_object_is_refused() -> None:
    assert "keyed by region" in _error(["DE"])


def test_unknown_region_is_refused_with_the_known_ones() -> None:
    message = _error({"XX": {"probability": 1, "types": ["flap"]}})

    assert "'XX'" in message
    assert "US GB DE FR JP KR BR AU" in message


def test_duplicate_region_after_normalizing_is_refused() -> None:
    text = '{"DE": {"probability": 1, "types": ["flap"]}, "de": {"probability": 1, "types": []}}'

    assert "twice" in _error(text)


def test_unknown_kind_is_refused_with_the_known_kinds() -> None:
    message = _error({"DE": {"probability": 1, "types": ["truncat"]}})

    assert "region DE" in message and "'truncat'" in message and "field types" in message
    assert all(name in message for name in KINDS)


def test_unknown_kind_in_params_is_refused() -> None:
    message = _error({"DE": {"probability": 1, "types": ["flap"], "params": {"flop": {}}}})

    assert "'flop'" in message and "field params" in message


def test_params_for_a_kind_the_region_does_not_draw_are_refused() -> None:
    profile = {"DE": {"probability": 1, "types": ["truncate"], "params": {"flap": {}}}}

    message = _error(profile)

    assert "region DE, kind flap, field params" in message
    assert "add flap to types or drop its params" in message


@pytest.mark.parametrize(
    "text",
    [
        '{"DE": {"probability": 1, "probability": 0.5, "types": ["flap"]}}',
        '{"DE": {"probability": 1, "types": ["false_recovery"],'
        ' "params": {"false_recovery": {"quiet_ms": 100, "quiet_ms": 5000}}}}',
    ],
)
def test_a_key_given_twice_in_one_object_is_refused(text: str) -> None:
    # json keeps the last one silently: the profile would not do what it seems to say.
    message = _error(text)

    assert "appears twice in one object; keep one" in message


@pytest.mark.parametrize("probability", [1.5, -0.1, "0.5"])
def test_probability_outside_zero_to_one_is_refused(probability: object) -> None:
    message = _error({"DE": {"probability": probability, "types": ["flap"]}})

    assert "region DE" in message and "field probability" in message


def test_empty_types_is_refused() -> None:
    message = _error({"DE": {"probability": 1, "types": []}})

    assert "field types" in message and "at least 1" in message


def test_wrong_param_type_names_region_kind_and_field() -> None:
    profile = {
        "DE": {
            "probability": 1,
            "types": ["truncate"],
            "params": {"truncate": {"keep_fraction": "half"}},
        }
    }

    message = _error(profile)

    assert "region DE, kind truncate, field params.truncate.keep_fraction" in message
    assert "'half'" in message


def test_unknown_param_field_is_refused() -> None:
    profile = {
        "DE": {"probability": 1, "types": ["slowloris"], "params": {"slowloris": {"interval": 5}}}
    }

    assert "field params.slowloris.interval" in _error(profile)


def test_truncate_end_must_be_fin_rst_or_hang() -> None:
    profile = {
        "DE": {"probability": 1, "types": ["truncate"], "params": {"truncate": {"end": "eof"}}}
    }

    assert "field params.truncate.end" in _error(profile)


def test_lie_length_zero_delta_is_refused() -> None:
    profile = {
        "DE": {
            "probability": 1,
            "types": ["lie_length"],
            "params": {"lie_length": {"delta_bytes": 0}},
        }
    }

    assert "tells the truth" in _error(profile)


def _one_param(kind: str, params: dict[str, object]) -> dict[str, object]:
    return {"DE": {"probability": 1, "types": [kind], "params": {kind: params}}}


def test_valid_garbage_unknown_mode_lists_the_modes() -> None:
    message = _error(_one_param("valid_garbage", {"mode": "nonsense"}))

    assert "field params.valid_garbage.mode" in message
    assert all(mode in message for mode in ("wrong_types", "duplicated_items", "null_ids"))


def test_clock_skew_unknown_header_is_refused_with_the_choices() -> None:
    message = _error(_one_param("clock_skew", {"headers": ["Date", "Age"]}))

    assert "field params.clock_skew.headers" in message
    assert "'Age' is not a clock header" in message and "Expires" in message


def test_clock_skew_headers_are_normalized_and_round_trip() -> None:
    profile = parse_profile(json.dumps(_one_param("clock_skew", {"headers": ["expires"]})), SOURCE)

    params = profile.as_json()["DE"]["params"]["clock_skew"]
    assert params["headers"] == ["Expires"]
    assert parse_profile(json.dumps(profile.as_json()), SOURCE) == profile


@pytest.mark.parametrize("headers", [[], ["Date", "date"], "Date"])
def test_clock_skew_headers_must_be_a_list_of_distinct_names(headers: object) -> None:
    assert "field params.clock_skew.headers" in _error(
        _one_param("clock_skew", {"headers": headers})
    )


def test_lie_length_negative_keep_open_is_refused() -> None:
    message = _error(_one_param("lie_length", {"delta_bytes": 5, "keep_open_ms": -1}))

    assert "field params.lie_length.keep_open_ms" in message


def test_missing_profile_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read the profile"):
        load_profile(tmp_path / "absent.json")


@pytest.mark.parametrize("name", ["de_example.json", "all_kinds.json", "false_recovery.json"])
def test_shipped_profiles_validate(name: str) -> None:
    profile = load_profile(ROOT / "profiles" / name)

    assert profile.regions


def test_all_kinds_profile_names_every_kind() -> None:
    profile = load_profile(ROOT / "profiles" / "all_kinds.json")

    assert {kind for faults in profile.regions.values() for kind in faults.kinds} == set(KINDS)


def test_all_kinds_profile_spells_out_every_param() -> None:
    document = json.loads((ROOT / "profiles" / "all_kinds.json").read_text())

    for kind, model in KINDS.items():
        assert set(document["DE"]["params"][kind]) == set(model.params_model.model_fields)


def test_cli_bad_profile_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    profile = tmp_path / "bad.json"
    profile.write_text(json.dumps({"DE": {"probability": 3, "types": ["flap"]}}))
    ledger = tmp_path / "ledger.csv"
    ready = tmp_path / "ready.json"

    result = run_faults(
        "--listen", "0", "--upstream", "http://127.0.0.1:9", "--profile", str(profile),
        "--ledger", str(ledger), "--ready-file", str(ready),
    )  # fmt: skip

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(profile) in lines[0] and "region DE" in lines[0] and "probability" in lines[0]
    assert not ledger.exists() and not ready.exists()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--listen", "0", "--upstream", "ftp://example"], "--upstream"),
        (["--listen", "70000", "--upstream", "http://127.0.0.1:9"], "--listen"),
        (["--listen", "0"], "--upstream"),
        (
            ["--listen", "0", "--upstream", "http://127.0.0.1:9", "--ledger", "/nope/l.csv"],
            "--ledger",
        ),
    ],
)
def test_cli_bad_option_exits_2_with_one_line(options: list[str], named: str) -> None:
    result = run_faults(*options)

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def _takes_floats(annotation: object) -> bool:
    return annotation is float or float in typing.get_args(annotation)


FLOAT_PARAMS = [
    (kind, name)
    for kind, spec in KINDS.items()
    for name, field in spec.params_model.model_fields.items()
    if _takes_floats(field.annotation)
]
DURATION_PARAMS = [
    (kind, name)
    for kind, spec in KINDS.items()
    for name in spec.params_model.model_fields
    if name.endswith(("_ms", "_s"))
]


@pytest.mark.parametrize(("kind", "name"), FLOAT_PARAMS)
def test_no_param_takes_an_infinite_number(kind: str, name: str) -> None:
    text = json.dumps(_one_param(kind, {name: 12345.5})).replace("12345.5", "1e999")

    message = _error(text)

    assert f"field params.{kind}.{name}: Input should be a finite number" in message


@pytest.mark.parametrize(("kind", "name"), FLOAT_PARAMS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_no_param_model_takes_nan_or_infinity(kind: str, name: str, value: float) -> None:
    with pytest.raises(ValidationError, match="finite number"):
        KINDS[kind].params_model.model_validate({name: value})


@pytest.mark.parametrize(("kind", "name"), DURATION_PARAMS)
def test_every_duration_param_has_an_upper_bound(kind: str, name: str) -> None:
    field = KINDS[kind].params_model.model_fields[name]

    bounds = [rule for rule in field.metadata if hasattr(rule, "le") or hasattr(rule, "lt")]

    assert bounds, f"{kind}.{name} has no upper bound"


@pytest.mark.parametrize(
    ("kind", "name"), [("truncate", "hang_max_ms"), ("slowloris", "max_duration_ms")]
)
def test_a_hold_longer_than_an_hour_is_refused(kind: str, name: str) -> None:
    parse_profile(json.dumps(_one_param(kind, {name: 3_600_000})), SOURCE)

    message = _error(_one_param(kind, {name: 3_600_001}))

    assert f"field params.{kind}.{name}: Input should be less than or equal to 3600000" in message
