"""The features cache: damaged rows are ignored, CSV import reports what it skipped."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from appliance.cli.features import configure, run
from appliance.core.store import Store
from appliance.music import features_cache
from appliance.music.features import TrackFeatures
from appliance.schema import open_store
from appliance.standins.catalog import catalog

IDS = [t.id for t in catalog()[:6]]


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(tmp_path / "m.db")
    yield s
    s.close()


def _corrupt(db, track_id: str, **cols: object) -> None:
    sets = ", ".join(f"{k} = ?" for k in cols)
    db.execute(f"UPDATE track_features SET {sets} WHERE track_id = ?",  # noqa: S608
               [*cols.values(), track_id])


def test_corrupt_rows_are_ignored_and_logged_not_fatal(store: Store, caplog) -> None:
    rows = [TrackFeatures(i, 0.5, 0.5, 120.0, source="csv") for i in IDS]
    store.write_sync(lambda db: features_cache.upsert_features(db, rows))

    def damage(db) -> None:
        _corrupt(db, IDS[0], valence=None)
        _corrupt(db, IDS[1], energy=float("nan"))
        _corrupt(db, IDS[2], valence=3.5)
        _corrupt(db, IDS[3], tempo="fast")
    store.write_sync(damage)
    with caplog.at_level(logging.WARNING, logger="appliance.music.features_cache"):
        m = store.read_sync(features_cache.load_matrix)
    assert m.ids == IDS[4:]
    assert m.skipped == 4
    assert m.values.shape == (2, 3)
    assert "ignored" in caplog.text
    assert store.read_sync(lambda db: features_cache.missing_ids(db, IDS)) == IDS[:4]
    assert store.read_sync(lambda db: features_cache.get_features(db, IDS[0])) is None
    facts = store.read_sync(features_cache.stats)
    assert facts["damaged"] == 4 and facts["usable"] == 2 and facts["total"] == 6


def _write_csv(path: Path) -> None:
    path.write_text(
        "track_id,name,artists,valence,energy,tempo\n"
        f"{IDS[0]},Good One,Band,0.8,0.7,128\n"
        f"spotify:track:{IDS[1]},Uri Form,Band,0.2,0.3,80\n"
        "shortid,Bad Id,Band,0.5,0.5,100\n"
        f"{IDS[2]},Bad Valence,Band,1.7,0.5,100\n"
        f"{IDS[3]},Bad Tempo,Band,0.5,0.5,abc\n"
        f"{IDS[0]},Dup,Band,0.1,0.1,100\n", encoding="utf-8")


def test_csv_import_reports_imported_and_skipped_with_reasons(store: Store, tmp_path) -> None:
    path = tmp_path / "f.csv"
    _write_csv(path)
    report = store.write_sync(lambda db: features_cache.import_csv(db, path))
    assert report.imported == 2
    reasons = dict(report.skipped)
    assert set(reasons) == {4, 5, 6, 7}
    assert "not a Spotify track id" in reasons[4]
    assert "valence" in reasons[5]
    assert "tempo" in reasons[6]
    assert "duplicate" in reasons[7]
    f = store.read_sync(lambda db: features_cache.get_features(db, IDS[1]))
    assert f is not None and f.valence == pytest.approx(0.2)


def test_csv_import_refuses_missing_columns(store: Store, tmp_path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("id,valence\nx,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column"):
        store.write_sync(lambda db: features_cache.import_csv(db, path))


def test_cli_import_and_stats(tmp_path, capsys) -> None:
    import argparse

    conf = tmp_path / "c.toml"
    conf.write_text(f'[paths]\nstate_dir = "{tmp_path}"\n', encoding="utf-8")
    csv_path = tmp_path / "f.csv"
    _write_csv(csv_path)
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    configure(parser)
    assert run(parser.parse_args(["--config", str(conf), "import", str(csv_path)])) == 0
    out = capsys.readouterr().out
    assert "imported 2 rows, skipped 4" in out
    assert "line 5:" in out
    assert run(parser.parse_args(["--config", str(conf), "stats"])) == 0
    assert "2 usable of 2" in capsys.readouterr().out
    missing = parser.parse_args(["--config", str(conf), "import", str(tmp_path / "nope.csv")])
    assert run(missing) == 1


def test_cli_stats_never_creates_a_database(tmp_path, capsys) -> None:
    import argparse

    state = tmp_path / "typo"
    conf = tmp_path / "c.toml"
    conf.write_text(f'[paths]\nstate_dir = "{state}"\n', encoding="utf-8")
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    configure(parser)
    assert run(parser.parse_args(["--config", str(conf), "stats"])) == 1
    assert "does not exist yet" in capsys.readouterr().err
    assert not (state / "mooddj.db").exists()
