"""`mooddj doctor` checks of the panel."""

from __future__ import annotations

from appliance.core.config import Config, PanelConfig, from_dict
from appliance.panel import doctor


def statuses(checks) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def test_default_pin_map_has_no_conflicts():
    out = doctor.check_pin_map(PanelConfig())
    assert statuses(out) == {"panel.pins": "pass"}
    assert "button.play 17" in out[0].message


def test_pin_used_twice_and_short_led_fail_with_a_hint():
    cfg = PanelConfig(camera_led=22, mood_led=(12, 16))
    out = doctor.check_pin_map(cfg)
    assert all(c.status == "fail" and c.hint for c in out)
    text = " ".join(c.message for c in out)
    assert "BCM 22 is used twice" in text and "needs 3 BCM pins" in text


def test_mock_pins_pass_away_from_a_pi_and_warn_on_one(tmp_path):
    model = tmp_path / "model"
    out = doctor.check_factory(PanelConfig(pin_factory="mock"), model_file=model)
    assert statuses(out) == {"panel.pin_factory": "pass"}
    model.write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\0")
    out = doctor.check_factory(PanelConfig(pin_factory="mock"), model_file=model)
    assert statuses(out) == {"panel.pin_factory": "warn"}
    assert "lgpio" in out[0].hint


def test_lgpio_without_the_module_or_chip_fails_with_a_fix(tmp_path):
    out = doctor.check_factory(PanelConfig(pin_factory="lgpio"), model_file=tmp_path / "m",
                               dev_dir=tmp_path)
    assert len(out) == 1 and out[0].status == "fail"
    assert "mock" in out[0].hint or "lgpio" in out[0].hint


def test_checks_entry_point_uses_the_panel_section():
    cfg = from_dict(Config, {"panel": {"pin_factory": "mock"}})
    names = [c.name for c in doctor.checks(cfg)]
    assert names == ["panel.pins", "panel.pin_factory"]
