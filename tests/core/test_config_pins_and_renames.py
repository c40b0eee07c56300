"""Config: LED pin lists are validated; the providers' keys have their own docs; renamed keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.core import config as config_mod
from appliance.core.config import ConfigError, load, reference, renamed_keys


def _load(tmp_path: Path, text: str) -> config_mod.Config:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load(path)


@pytest.mark.parametrize(("text", "error"), [
    ("status_led = [5]", "panel.status_led = [5] is invalid: expected exactly 3 item(s)"),
    ("mood_led = [12, 16, 20, 21]", "expected exactly 3 item(s)"),
    ("status_led = [5, 6, 99]", "panel.status_led[2] = 99 is invalid: must be between 0 and 27"),
    ("mood_led = [-1, 16, 20]", "panel.mood_led[0] = -1 is invalid"),
])
def test_led_pins_outside_the_header_or_of_the_wrong_count_are_rejected(
        tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, f"[panel]\n{text}\n")
    assert error in str(info.value)


def test_valid_led_pins_load(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "[panel]\nstatus_led = [23, 24, 25]\n")
    assert cfg.panel.status_led == (23, 24, 25)


def test_each_provider_documents_its_own_keys() -> None:
    docs = {key: doc for key, _default, doc in reference()}
    assert "Not used by Google" in docs["identity.google.tenant"]
    assert "Not used by GitHub" in docs["identity.github.tenant"]
    assert docs["identity.microsoft.tenant"].startswith("Microsoft tenant")
    assert "GitHub's user API" in docs["identity.github.api_url"]
    assert "Google" in docs["identity.google.client_secret"]
    for other in ("microsoft", "github"):
        assert "Google" not in docs[f"identity.{other}.client_secret"]
        assert "Google" not in docs[f"identity.{other}.client_id"]
    # No two providers share one text for the same key (the old shared docstring).
    for leaf in ("client_id", "client_secret", "base_url"):
        texts = [docs[f"identity.{p}.{leaf}"] for p in ("google", "microsoft", "github")]
        assert len(set(texts)) == 3, texts


def test_a_renamed_key_moves_to_its_new_name_and_the_new_one_wins() -> None:
    data = {"web": {"name": "kitchen", "port": 8080}, "log": {"level": "INFO"}}
    out, found = renamed_keys(data, {"web.name": "web.hostname", "gone.key": "x.y"})
    assert out == {"web": {"hostname": "kitchen", "port": 8080}, "log": {"level": "INFO"}}
    assert found == [("web.name", "web.hostname")]
    assert data["web"] == {"name": "kitchen", "port": 8080}  # the input is not changed
    both = {"web": {"name": "old", "hostname": "new"}}
    assert renamed_keys(both, {"web.name": "web.hostname"})[0] == {"web": {"hostname": "new"}}
    moved = {"vision": {"camera_fps": 10}}
    assert renamed_keys(moved, {"vision.camera_fps": "camera.fps"})[0] == {
        "vision": {}, "camera": {"fps": 10}}


def test_a_config_with_a_renamed_key_loads_instead_of_being_rejected(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = '[web]\nname = "kitchen"\n'
    with pytest.raises(ConfigError, match=r"unknown config key web\.name"):
        _load(tmp_path, text)
    # A release that renames web.hostname's old name lists it in RENAMED:
    monkeypatch.setitem(config_mod.RENAMED, "web.name", "web.hostname")
    assert _load(tmp_path, text).web.hostname == "kitchen"


async def test_doctor_names_a_renamed_key_in_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from appliance.maintenance.doctor import run_checks

    monkeypatch.setitem(config_mod.RENAMED, "web.name", "web.hostname")
    path = tmp_path / "config.toml"
    path.write_text(f'[paths]\nstate_dir = "{tmp_path}"\n[web]\nname = "kitchen"\n'
                    '[spotify]\naccounts_url = "http://127.0.0.1:9/"\n'
                    'api_url = "http://127.0.0.1:9/v1/"\n[features]\nprovider = "none"\n')
    checks = await run_checks(config_path=str(path), plugins=[])
    [c] = [c for c in checks if c.name == "config key"]
    assert c.status == "warn" and "web.name was renamed web.hostname" in c.message
    assert str(path) in c.hint
    assert next(c for c in checks if c.name == "config").status == "pass"
