"""Storm options: a profile's fault mix lands on the target, bad options are refused."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from storm.errors import StormError
from storm.options import retarget, settings_from


def options(tmp_path: Path, profile: object, **overrides: object) -> argparse.Namespace:
    path = tmp_path / "profile.json"
    path.write_text(profile if isinstance(profile, str) else json.dumps(profile))
    values: dict[str, object] = {
        "fault_target": "DE",
        "fault_profile": str(path),
        "fault_probability": None,
        "fault_seed": 1,
        "ingest": "hardened",
        "upstream": "",
        "min_items": 50,
        "thresholds": "",
        "generation_s": 10.0,
        "run_time": 60,
        "baseline": "",
        "fault_window": "",
        "recovery": "",
    }
    values.update(overrides)
    return argparse.Namespace(**values)


DE_MIX = {"DE": {"probability": 0.7, "types": ["truncate"]}}


def test_one_region_profile_moves_to_the_target(tmp_path: Path) -> None:
    settings = settings_from(options(tmp_path, DE_MIX, fault_target="JP"))
    assert settings.profile == {"JP": {"probability": 0.7, "types": ["truncate"]}}


def test_probability_option_overrides_the_profile(tmp_path: Path) -> None:
    settings = settings_from(options(tmp_path, DE_MIX, fault_probability=1.0))
    assert settings.profile["DE"]["probability"] == 1.0


def test_random_target_is_reproducible_from_the_seed(tmp_path: Path) -> None:
    first = settings_from(options(tmp_path, DE_MIX, fault_target="random", fault_seed=5))
    again = settings_from(options(tmp_path, DE_MIX, fault_target="random", fault_seed=5))
    assert first.target == again.target
    assert list(first.profile) == [first.target]


def test_profile_naming_other_regions_only_is_refused() -> None:
    profile = {"US": {"probability": 1, "types": []}, "GB": {"probability": 1, "types": []}}
    with pytest.raises(StormError, match="names several regions"):
        retarget(profile, "DE", "p.json")


def test_region_names_are_read_as_the_proxy_reads_them(tmp_path: Path) -> None:
    profile = {
        "de": {"probability": 0.7, "types": ["truncate"]},
        "FR": {"probability": 1, "types": ["flap"]},
    }

    settings = settings_from(options(tmp_path, profile))

    assert settings.profile == {"DE": {"probability": 0.7, "types": ["truncate"]}}


def test_profile_that_is_not_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StormError, match="not valid JSON"):
        settings_from(options(tmp_path, "{not json"))


def test_missing_profile_is_refused(tmp_path: Path) -> None:
    opts = options(tmp_path, DE_MIX)
    opts.fault_profile = str(tmp_path / "absent.json")
    with pytest.raises(StormError, match="no such file"):
        settings_from(opts)


def test_probability_outside_zero_to_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StormError, match="from 0 to 1"):
        settings_from(options(tmp_path, DE_MIX, fault_probability=1.5))


def test_phases_default_to_shares_of_the_run_time(tmp_path: Path) -> None:
    settings = settings_from(options(tmp_path, DE_MIX, run_time=60))
    assert settings.plan.steps() == (("baseline", 10.0), ("fault", 30.0), ("recovery", 20.0))


def test_fault_window_takes_what_the_other_phases_leave(tmp_path: Path) -> None:
    settings = settings_from(options(tmp_path, DE_MIX, run_time=40, baseline="5s", recovery="15s"))
    assert settings.plan.fault_s == 20.0


def test_phases_longer_than_the_run_time_are_refused(tmp_path: Path) -> None:
    opts = options(tmp_path, DE_MIX, run_time=30, baseline="10s", fault_window="30s")
    with pytest.raises(StormError, match="do not fit in a run time of 30 s"):
        settings_from(opts)


def test_phase_in_a_bad_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StormError, match="--recovery 'soon'"):
        settings_from(options(tmp_path, DE_MIX, recovery="soon"))


def test_profile_with_an_unknown_region_is_refused_like_the_proxy_does(tmp_path: Path) -> None:
    with pytest.raises(StormError, match="XX"):
        settings_from(options(tmp_path, {"XX": {"probability": 0.5, "types": ["truncate"]}}))


def test_empty_profile_is_refused_with_what_to_write(tmp_path: Path) -> None:
    with pytest.raises(StormError, match="names no region"):
        settings_from(options(tmp_path, {}))


def test_deeply_nested_profile_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(StormError) as caught:
        settings_from(options(tmp_path, "[" * 100_000))
    assert "\n" not in str(caught.value)


def test_lowercase_target_is_a_region(tmp_path: Path) -> None:
    assert settings_from(options(tmp_path, DE_MIX, fault_target="jp")).target == "JP"


def test_probability_from_the_web_form_is_text(tmp_path: Path) -> None:
    settings = settings_from(options(tmp_path, DE_MIX, fault_probability="0.25"))
    assert settings.profile["DE"]["probability"] == 0.25


def test_bad_thresholds_file_is_refused_before_the_storm(tmp_path: Path) -> None:
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text('{"clean": {"min_requests": "many"}}')
    with pytest.raises(StormError, match="min_requests"):
        settings_from(options(tmp_path, DE_MIX, thresholds=str(thresholds)))


def test_bugs_are_checked_and_kept_in_a_stable_order(tmp_path: Path) -> None:
    settings = settings_from(options(tmp_path, DE_MIX, bugs=" trust_clocks,stream_commit "))
    assert settings.bugs == "stream_commit,trust_clocks"


def test_an_unknown_bug_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(StormError, match=r"--bugs: unknown bug .gremlins.*serial_loop"):
        settings_from(options(tmp_path, DE_MIX, bugs="gremlins"))


def test_bugs_of_an_external_stack_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StormError, match="embedded stack"):
        settings_from(options(tmp_path, DE_MIX, bugs="serial_loop", upstream="http://127.0.0.1:9"))


def test_a_bug_name_with_a_newline_stays_one_short_line(tmp_path: Path) -> None:
    with pytest.raises(StormError) as refused:
        settings_from(options(tmp_path, DE_MIX, bugs="all,ev\nil" + "x" * 5000))
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 400
