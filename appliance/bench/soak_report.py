"""Figures of a soak run: samples over time, growth after warm-up, and the targets."""

from __future__ import annotations

import itertools
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

RSS_GROWTH_MAX_MIB = 5.0
STEADY_RSS_MAX_MIB = 150.0
EDGE = 3  # fewest samples in each end window


@dataclass
class Sample:
    """One look at the box process and its status snapshot."""

    t: float  # seconds since the soak began driving the box
    rss_mib: float
    fds: int
    threads: int
    tasks: int | None
    bus_dropped: int
    restarts: int
    player: str
    plays: int
    camera: str
    # RSS split: anonymous (heap, models, buffers, relocated library data: the box's own)
    # and file-backed (clean library code in the page cache, shared and reclaimable).
    anon_mib: float | None = None
    # The box's child processes: the simulated camera's decoder (a Pi has none).
    children_mib: float | None = None


@dataclass
class SoakResult:
    """What a run measured; `figures()` turns it into the summary."""

    minutes: float
    speed: float
    warmup: float
    samples: list[Sample] = field(default_factory=list)
    crashes: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None
    camera_switches: int = 0
    mood_changes: int = 0
    setup: dict[str, str] = field(default_factory=dict)
    box_pid: int = 0
    state_dir: str = ""

    def steady(self) -> list[Sample]:
        """Samples after the warm-up (all of them if the run was shorter)."""
        after = [s for s in self.samples if s.t >= self.warmup]
        return after if len(after) >= 2 else list(self.samples)

    def figures(self) -> dict[str, Any]:
        """Start/end/growth of each figure, the totals and the verdict per target."""
        steady = self.steady()
        if not steady:
            return {"error": "no samples were taken"}
        # Floors of the first and last thirds: the room's phases (a face, an empty room)
        # move RSS up and down by a few MiB; a leak raises the floor.
        edge = max(EDGE, len(steady) // 3)
        head, tail = steady[:edge], steady[-edge:]
        rss_start = min(s.rss_mib for s in head)
        rss_end = min(s.rss_mib for s in tail)
        rss_steady = statistics.median(s.rss_mib for s in steady)
        anon = [s.anon_mib for s in steady if s.anon_mib is not None]
        anon_steady = statistics.median(anon) if anon else None
        kids = [s.children_mib for s in steady if s.children_mib is not None]
        out: dict[str, Any] = {
            "rss_mib": {"start": round(rss_start, 1), "end": round(rss_end, 1),
                       "growth": round(rss_end - rss_start, 1),
                       "steady": round(rss_steady, 1),
                       "peak": round(max(s.rss_mib for s in self.samples), 1),
                       "steady_anon": None if anon_steady is None else round(anon_steady, 1),
                       "steady_file": None if anon_steady is None
                       else round(rss_steady - anon_steady, 1),
                       "children_steady": round(statistics.median(kids), 1) if kids else None},
            "fds": _edges([s.fds for s in head], [s.fds for s in tail]),
            "threads": _edges([s.threads for s in head], [s.threads for s in tail]),
            "tasks": _edges([s.tasks for s in head if s.tasks is not None],
                            [s.tasks for s in tail if s.tasks is not None]),
            "bus_dropped": self.samples[-1].bus_dropped,
            "restarts": sum(self.crashes.values()) if self.crashes
            else self.samples[-1].restarts,
            "crashes": dict(self.crashes),
            "plays": self.samples[-1].plays - self.samples[0].plays,
            "pauses_seen": sum(1 for a, b in itertools.pairwise(self.samples)
                               if b.player == "paused" != a.player),
            "camera_switches": self.camera_switches, "mood_changes": self.mood_changes,
            "clean_exit": self.exit_code == 0, "exit_code": self.exit_code,
        }
        out["targets"] = self._targets(out)
        out["pass"] = all(t["pass"] for t in out["targets"])
        return out

    def _targets(self, f: dict[str, Any]) -> list[dict[str, Any]]:
        def target(name: str, goal: str, value: Any, ok: bool) -> dict[str, Any]:
            return {"name": name, "target": goal, "value": value, "pass": bool(ok)}

        fds, tasks = f["fds"], f["tasks"]
        return [
            target("RSS growth after warm-up", f"< {RSS_GROWTH_MAX_MIB:g} MiB",
                   f"{f['rss_mib']['growth']:+.1f} MiB",
                   f["rss_mib"]["growth"] < RSS_GROWTH_MAX_MIB),
            target("steady-state RSS (box only)", f"<= {STEADY_RSS_MAX_MIB:g} MiB",
                   f"{f['rss_mib']['steady']:.1f} MiB",
                   f["rss_mib"]["steady"] <= STEADY_RSS_MAX_MIB),
            target("open file descriptors", "no growth",
                   f"{fds['start']} -> {fds['end']}", fds["growth"] is not None
                   and fds["growth"] <= 0),
            target("asyncio tasks", "no growth", f"{tasks['start']} -> {tasks['end']}",
                   tasks["growth"] is not None and tasks["growth"] <= 0),
            target("service restarts", "0", str(f["restarts"]), f["restarts"] == 0),
            target("clean exit on SIGTERM", "exit 0", str(f["exit_code"]), f["clean_exit"]),
        ]

    def to_json(self) -> dict[str, Any]:
        """Everything, machine-readable (`--json`)."""
        return {"minutes": self.minutes, "speed": self.speed, "warmup_seconds": self.warmup,
                "box_pid": self.box_pid, "setup": self.setup, "state_dir": self.state_dir,
                "figures": self.figures(), "samples": [asdict(s) for s in self.samples]}


def _edges(head: list[int], tail: list[int]) -> dict[str, int | None]:
    """Floors of the first and last windows: growth > 0 is a leak."""
    if not head or not tail:
        return {"start": None, "end": None, "growth": None}
    start, end = min(head), min(tail)
    return {"start": start, "end": end, "growth": end - start}


HEADER = (f"{'time':>6} {'RSS MiB':>8} {'anon':>6} {'fds':>4} {'thr':>4} {'tasks':>5} {'drops':>5} "
          f"{'restarts':>8}  {'camera':<6} {'player':<8} {'plays':>5}")


def row(s: Sample) -> str:
    """One line of the table over time."""
    minutes, seconds = divmod(int(s.t), 60)
    tasks = "-" if s.tasks is None else str(s.tasks)
    anon = "-" if s.anon_mib is None else f"{s.anon_mib:.1f}"
    return (f"{minutes:>3}:{seconds:02d} {s.rss_mib:>8.1f} {anon:>6} {s.fds:>4} {s.threads:>4} "
            f"{tasks:>5} {s.bus_dropped:>5} {s.restarts:>8}  {s.camera:<6} {s.player:<8} "
            f"{s.plays:>5}")


def summary(result: SoakResult) -> str:
    """The human-readable summary with PASS/FAIL per target."""
    f = result.figures()
    if "error" in f:
        return f"soak: {f['error']}"
    rss = f["rss_mib"]
    lines = [
        "",
        f"Soak: {result.minutes:g} min, Spotify stand-in at {result.speed:g}x, "
        f"warm-up {result.warmup:.0f} s, {len(result.samples)} samples "
        f"(box pid {result.box_pid}, stand-ins excluded)",
        "  (start/end: lowest value in the first/last third after warm-up)",
        f"  RSS       start {rss['start']:.1f} MiB  end {rss['end']:.1f} MiB  growth "
        f"{rss['growth']:+.1f} MiB  steady {rss['steady']:.1f} MiB  peak {rss['peak']:.1f} MiB",
        *([f"            steady = {rss['steady_anon']:.1f} MiB anonymous (heap, models, buffers) "
           f"+ {rss['steady_file']:.1f} MiB file-backed",
           "            (library code in the page cache: its resident size varies from run "
           "to run)"]
          if rss.get("steady_anon") is not None else []),
        *([f"            apart: the replay camera's decoder process, "
           f"{rss['children_steady']:.1f} MiB (a Pi's camera has none)"]
          if rss.get("children_steady") else []),
        f"  fds       start {f['fds']['start']}  end {f['fds']['end']}",
        f"  threads   start {f['threads']['start']}  end {f['threads']['end']}",
        f"  tasks     start {f['tasks']['start']}  end {f['tasks']['end']}",
        f"  bus drops {f['bus_dropped']}   restarts {f['restarts']}   exit code "
        f"{f['exit_code']}",
        f"  activity  tracks started {f['plays']}   pauses seen {f['pauses_seen']}   camera "
        f"switches {f['camera_switches']}   manual moods {f['mood_changes']}",
        "",
    ]
    for t in f["targets"]:
        lines.append(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['name']:<30} {t['value']:<16} "
                     f"(target {t['target']})")
    lines.append(f"\nsoak: {'PASS' if f['pass'] else 'FAIL'}")
    return "\n".join(lines)
