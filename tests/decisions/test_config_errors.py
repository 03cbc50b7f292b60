"""Config validation: every mistake is a ConfigError naming the file, the line and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.errors import ConfigError
from proxy.settings import load_settings
from tests.decisions.helpers import settings_from

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tailor.toml"


def error_of(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        settings_from(tmp_path, text)
    return info.value


def test_the_documented_example_loads() -> None:
    settings = load_settings(EXAMPLE)
    assert {p.name for p in settings.personas} >= {"camper", "runner"}
    assert {s.name for s in settings.segments} >= {
        "first-time", "returning", "frequent", "occasional", "single-category",
        "cross-category", "high-value", "bargain-hunter", "browser-never-buys",
    }


def test_affinity_above_one_is_impossible(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[personas]]\nname = "a"\nwhen = { affinity = "x", above = 0.2 }\n\n[[segments]]\nname = "b"\nwhen = { all = [ { affinity = "camping", above = 1.5 } ] }\n')
    assert err.line == 7
    assert "above" in err.message and "1" in err.message
    assert str(err).startswith(f"{tmp_path / 'tailor.toml'}:7:")


def test_affinity_above_exactly_one_never_matches(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[segments]]\nname = "b"\nwhen = { affinity = "camping", above = 1.0 }\n')
    assert err.line == 3
    assert "impossible" in err.message


def test_hour_25(tmp_path: Path) -> None:
    err = error_of(tmp_path, '# comment\n[[segments]]\nname = "late"\nwhen = { hour = [22, 25] }\n')
    assert err.line == 4
    assert "23" in err.message and "hour" in err.message


def test_weekday_9(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[segments]]\nname = "w"\n\nwhen = { weekday = [5, 9] }\n')
    assert err.line == 4
    assert "weekday" in err.message and "6" in err.message


def test_empty_any(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[segments]]\nname = "ok"\nwhen = { always = true }\n[[segments]]\nname = "e"\nwhen = { any = [] }\n')
    assert err.line == 6
    assert "empty any" in err.message


def test_unknown_field(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[personas]]\nname = "a"\nwhen = { afinity = "camping" }\n')
    assert err.line == 3
    assert "unknown field" in err.message and "afinity" in err.message


def test_wrong_type(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[segments]]\nname = "a"\nwhen = { counter = "visits", at_least = "three" }\n')
    assert err.line == 3
    assert "at_least" in err.message


def test_unknown_counter_is_a_type_error(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[segments]]\nname = "a"\nwhen = { counter = "vists", at_least = 3 }\n')
    assert err.line == 3
    assert "counter" in err.message


def test_unknown_segment_referenced(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[segments]]\nname = "bargain"\nwhen = { affinity = "sale" }\n\n[slots.promo]\n[[slots.promo.rules]]\nwhen = { segment = "bargains" }\nvariant = "urgent"\n')
    assert err.line == 7
    assert "unknown segment 'bargains'" in err.message and "bargain" in err.message


def test_unknown_trigger_and_persona(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[slots.promo]\nrules = [ { when = { trigger = "cart" }, variant = "reminder" } ]\n')
    assert err.line == 2
    assert "unknown trigger 'cart'" in err.message
    err = error_of(tmp_path, '[[segments]]\nname = "s"\nwhen = { persona = "nobody" }\n')
    assert err.line == 3 and "unknown persona" in err.message


def test_unknown_slot_in_experiment(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[slots.promo]\n\n[[experiments]]\nname = "t"\nslot = "promoo"\narms = [ { name = "a" }, { name = "b" } ]\n')
    assert err.line == 5
    assert "unknown slot 'promoo'" in err.message


def test_unknown_variant_against_declared(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[slots.promo]\nvariants = ["urgent", "calm"]\n[[slots.promo.rules]]\nname = "r"\nvariant = "urgnet"\n')
    assert err.line == 5
    assert "unknown variant 'urgnet'" in err.message


def test_modifier_without_subject_and_two_subjects(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[segments]]\nname = "a"\nwhen = { above = 0.3 }\n')
    assert err.line == 3 and "needs a subject" in err.message
    err = error_of(tmp_path, '[[segments]]\nname = "a"\nwhen = { device = "mobile", affinity = "x" }\n')
    assert "one subject per condition" in err.message


def test_modifier_that_does_not_fit(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[segments]]\nname = "a"\nwhen = { counter = "visits", above = 0.5 }\n')
    assert "above does not apply to counter" in err.message


def test_contradictory_range(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[segments]]\nname = "a"\nwhen = { counter = "visits", at_least = 5, at_most = 2 }\n')
    assert err.line == 3 and "impossible" in err.message


def test_duplicate_names(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[segments]]\nname = "a"\nwhen = { always = true }\n[[segments]]\nname = "a"\nwhen = { always = true }\n')
    assert err.line == 5 and "duplicate name 'a'" in err.message


def test_segment_cycle(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[segments]]\nname = "a"\nwhen = { segment = "b" }\n[[segments]]\nname = "b"\nwhen = { not = { segment = "a" } }\n')
    assert "loop" in err.message and err.line in (3, 6)


def test_persona_cannot_name_a_persona(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[personas]]\nname = "a"\nwhen = { persona = "a" }\n')
    assert err.line == 3 and "cannot name a persona" in err.message


def test_experiment_needs_two_arms_and_known_control(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[slots.x]\n[[experiments]]\nname = "t"\nslot = "x"\narms = [ { name = "a" } ]\n')
    assert err.line == 5 and "two arms" in err.message
    err = error_of(tmp_path, '[slots.x]\n[[experiments]]\nname = "t"\nslot = "x"\ncontrol = "c"\narms = [ { name = "a" }, { name = "b" } ]\n')
    assert err.line == 5 and "unknown arm 'c'" in err.message


def test_holdout_percent_range(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[holdout]\npercent = 150\n')
    assert err.line == 2 and "percent" in err.message


def test_trigger_kind_checked(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[triggers]]\nname = "t"\nkind = "looping"\n')
    assert err.line == 3 and "kind" in err.message
    err = error_of(tmp_path, '[[triggers]]\nname = "t"\nkind = "event_count"\n')
    assert err.line == 1 and "needs event" in err.message


def test_names_must_be_id_safe(tmp_path: Path) -> None:
    err = error_of(tmp_path, '[[personas]]\nname = "big spender"\n')
    assert err.line == 2 and "name" in err.message
