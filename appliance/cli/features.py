"""`mooddj features import CSV` and `mooddj features stats`: the offline features catalog."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from appliance.cli.locations import fail, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="features_cmd", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="import track features from a CSV file",
                         description="Import a CSV with columns track_id,name,artists,"
                                     "valence,energy,tempo (valence/energy 0..1, tempo BPM).")
    imp.add_argument("csv", metavar="CSV", help="path of the CSV file")
    imp.add_argument("--show-skipped", type=int, default=20, metavar="N",
                     help="list at most N skipped rows (default 20)")
    st = sub.add_parser("stats", help="how many tracks have features, by source")
    st.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Run `mooddj features ...`."""
    from appliance.core.store import StoreError
    from appliance.music import features_cache
    from appliance.schema import open_store

    cfg = load_config(args)
    if args.features_cmd == "stats":
        return _stats(cfg.paths.database_path, args.json)
    try:
        store = open_store(cfg.paths.database_path)
    except StoreError as err:
        return fail(str(err))
    try:
        if args.features_cmd == "import":
            try:
                report = store.write_sync(lambda db: features_cache.import_csv(db, args.csv))
            except FileNotFoundError:
                return fail(f"{args.csv} not found; give the path of a CSV file")
            except (ValueError, UnicodeDecodeError) as err:
                return fail(str(err))
            print(f"imported {report.imported} rows, skipped {len(report.skipped)}")
            for line, reason in report.skipped[:max(0, args.show_skipped)]:
                print(f"  line {line}: {reason}")
            if len(report.skipped) > args.show_skipped:
                print(f"  ... and {len(report.skipped) - args.show_skipped} more")
            return 0 if report.imported or not report.skipped else 1
        return fail(f"unknown action {args.features_cmd!r}", 2)
    finally:
        store.close()


def _stats(path: Path, as_json: bool) -> int:
    """`features stats`: read-only, so a mistyped --state-dir never creates a database."""
    import sqlite3

    from appliance.core.store import StoreError, open_readonly
    from appliance.music import features_cache

    try:
        db = open_readonly(path)
    except StoreError as err:
        return fail(str(err))
    try:
        facts = features_cache.stats(db)
    except sqlite3.DatabaseError as err:
        return fail(f"database {path} cannot be read: {err}; run `mooddj doctor`")
    finally:
        db.conn.close()
    if as_json:
        print(json.dumps(facts, indent=2))
    else:
        print(f"tracks with features: {facts['usable']} usable of {facts['total']} "
              f"({facts['damaged']} damaged rows ignored)")
        for source, n in facts["by_source"].items():
            print(f"  {source}: {n}")
    return 0
