"""The README stays true: two quick-start commands, every config key, every command."""

from __future__ import annotations

import re
from pathlib import Path

from appliance.cli.bench import BENCHES
from appliance.cli.main import COMMANDS
from appliance.core.config import reference

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_quick_start_is_exactly_two_commands_that_exist():
    quick = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["scripts/demo", "scripts/test"]
    for cmd in commands:
        path = ROOT / cmd
        assert path.exists() and path.stat().st_mode & 0o111, f"{cmd} must be executable"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec scripts/test\s*$", ci, re.M)


def test_every_config_key_is_documented_with_its_default():
    from appliance.core.config_doc import markdown

    missing = [key for key, _default, _doc in reference() if f"`{key}`" not in README]
    assert not missing, f"README lacks config keys: {missing}"
    # Each key's row (key and default, as `python -m appliance.core.config_doc` prints it).
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in markdown().splitlines() if line.startswith("| `")}
    documented = {line.split("|")[1].strip(): line.split("|")[2].strip()
                  for line in README.splitlines() if line.startswith("| `")}
    wrong = {k: (documented.get(k), v) for k, v in rows.items() if documented.get(k) != v}
    assert not wrong, f"README's defaults differ (README, code): {wrong}"


def test_every_mooddj_command_and_benchmark_is_documented():
    missing = [name for name in COMMANDS if f"mooddj {name}" not in README]
    assert not missing, f"README lacks commands: {missing}"
    for bench in BENCHES:
        assert bench in README.split("mooddj bench", 1)[1]


def test_every_command_takes_config_after_its_name_as_the_readme_says():
    from appliance.cli.main import build_parser

    assert "Every command takes `--config PATH`" in README
    parser = build_parser()
    extra = {"backup": ["/tmp/x.mooddj"], "restore": ["/tmp/x.mooddj"], "analyze": ["x.jpg"],
             "features": ["stats"], "bench": ["vision"]}
    for name in COMMANDS:
        args = parser.parse_args([name, "--config", "/c.toml", *extra.get(name, [])])
        assert args.config == "/c.toml", name
        args = parser.parse_args(["--config", "/top.toml", name, *extra.get(name, [])])
        assert args.config == "/top.toml", name
        # after a sub-action too: `mooddj features stats --sim --state-dir DIR`
        args = parser.parse_args([name, *extra.get(name, []), "--config", "/end.toml",
                                  "--state-dir", "/s", "--sim"])
        assert (args.config, args.state_dir, args.sim) == ("/end.toml", "/s", True), name
    args = parser.parse_args(["features", "--sim", "--state-dir", "/s", "stats"])
    assert args.sim is True and args.state_dir == "/s"
