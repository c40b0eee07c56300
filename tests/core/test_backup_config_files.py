"""Backups hold the config file and the calibration; restore puts them back, asking first
before it replaces a config that differs (`--yes` agrees without asking)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from appliance.cli import main as cli
from appliance.maintenance.backup import make_backup
from appliance.maintenance.restore import restore_backup
from appliance.schema import open_store

CALIBRATION = b'{"valence": 0.1, "arousal": -0.05}\n'


def _box(root: Path, extra: str = "") -> tuple[Path, Path]:
    state = root / "state"
    state.mkdir(parents=True, mode=0o700)
    conf = root / "config.toml"
    conf.write_text(f'[paths]\nstate_dir = "{state}"\nruntime_dir = "{root / "run"}"\n{extra}')
    open_store(state / "mooddj.db").close()
    return conf, state


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, Path]:
    conf, state = _box(tmp_path / "src", '[web]\nhostname = "kitchen"\n')
    (state / "calibration.json").write_bytes(CALIBRATION)
    (state / "secret.key").write_bytes(bytes(range(32)))
    (state / "secret.key").chmod(0o600)
    out = tmp_path / "backups"
    out.mkdir()
    assert cli.main(["--config", str(conf), "backup", str(out)]) == 0
    [path] = out.iterdir()
    return path, conf


def test_the_backup_holds_the_config_and_the_calibration(archive) -> None:
    path, conf = archive
    with tarfile.open(path) as tar:
        names = sorted(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
        assert tar.extractfile("config.toml").read() == conf.read_bytes()
        assert tar.extractfile("calibration.json").read() == CALIBRATION
    assert names == ["calibration.json", "config.toml", "manifest.json", "mooddj.db",
                     "secret.key"]
    assert manifest["format_version"] == 2 and set(manifest["files"]) == {
        "config.toml", "calibration.json"}


def test_restore_on_a_new_box_puts_config_and_calibration_back(archive, tmp_path: Path,
                                                               capsys) -> None:
    path, conf = archive
    _conf2, state2 = _box(tmp_path / "dst")
    conf2 = tmp_path / "dst" / "config.toml"
    conf2.unlink()  # a box without a config file yet: the backup's goes in
    target = tmp_path / "dst" / "box.toml"
    target.write_text(f'[paths]\nstate_dir = "{state2}"\n')
    result = restore_backup(path, state2 / "mooddj.db", state2 / "secret.key", stamp="T",
                            config_path=conf2, calibration_path=state2 / "calibration.json")
    assert conf2.read_bytes() == conf.read_bytes()
    assert (state2 / "calibration.json").read_bytes() == CALIBRATION
    assert any(str(conf2) in n for n in result.notes)


def test_a_differing_config_is_kept_unless_agreed(archive, tmp_path: Path, capsys) -> None:
    path, conf = archive
    conf2, state2 = _box(tmp_path / "dst")
    mine = conf2.read_bytes()
    # No terminal and no --yes: the current config stays, the backup's is put beside it.
    assert cli.main(["--config", str(conf2), "restore", str(path)]) == 0
    out = capsys.readouterr().out
    assert conf2.read_bytes() == mine
    [aside] = state2.glob("config.toml.from-backup-*")
    assert aside.read_bytes() == conf.read_bytes()
    assert "kept" in out and "--yes" in out
    assert (state2 / "calibration.json").read_bytes() == CALIBRATION
    # --yes: replaced; the previous one is kept.
    assert cli.main(["--config", str(conf2), "restore", "--yes", str(path)]) == 0
    assert conf2.read_bytes() == conf.read_bytes()
    [old] = conf2.parent.glob("config.toml.pre-restore-*")
    assert old.read_bytes() == mine


def test_the_prompt_decides_on_a_terminal(archive, tmp_path: Path) -> None:
    path, conf = archive
    conf2, state2 = _box(tmp_path / "dst")
    asked = []
    restore_backup(path, state2 / "mooddj.db", state2 / "secret.key", stamp="T1",
                   config_path=conf2, calibration_path=None,
                   replace_config=lambda: asked.append(1) or False)
    assert asked == [1] and conf2.read_bytes() != conf.read_bytes()
    restore_backup(path, state2 / "mooddj.db", state2 / "secret.key", stamp="T2",
                   config_path=conf2, calibration_path=None, replace_config=lambda: True)
    assert conf2.read_bytes() == conf.read_bytes()


def test_a_version_1_backup_still_restores(tmp_path: Path) -> None:
    _conf, state = _box(tmp_path / "src")
    (state / "secret.key").write_bytes(bytes(range(32)))
    (state / "secret.key").chmod(0o600)
    v2 = make_backup(state / "mooddj.db", state / "secret.key", tmp_path / "a.mooddj").path
    v1 = tmp_path / "v1.mooddj"
    with tarfile.open(v2) as src, tarfile.open(v1, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read()
            if member.name == "manifest.json":
                m = json.loads(data)
                m["format_version"] = 1
                del m["files"]
                data = json.dumps(m).encode()
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    _conf2, state2 = _box(tmp_path / "dst")
    result = restore_backup(v1, state2 / "mooddj.db", state2 / "secret.key", stamp="T")
    assert result.manifest["format_version"] == 1 and result.notes == ()
