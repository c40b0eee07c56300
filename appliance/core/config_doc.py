"""Render the configuration reference (README section and example config file)."""

from __future__ import annotations

import json
import sys

from appliance.core.config import reference


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def markdown() -> str:
    """The reference as a Markdown table (key, default, meaning)."""
    lines = ["| key | default | meaning |", "| --- | --- | --- |"]
    for key, default, doc in reference():
        lines.append(f"| `{key}` | `{_toml(default)}` | {doc} |")
    return "\n".join(lines) + "\n"


def example_toml() -> str:
    """A commented config file listing every key at its default."""
    out = ["# /etc/mooddj/config.toml: every key, commented out at its default.",
           "# Uncomment and change what you need; `mooddj doctor` checks the result."]
    section = None
    for key, default, doc in reference():
        head, _, name = key.rpartition(".")
        if head != section:
            section = head
            out.append(f"\n[{head}]")
        out.append(f"# {doc}")
        out.append(f"# {name} = {_toml(default)}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(example_toml() if "--toml" in sys.argv else markdown())
