"""Logging for journald and the simulator's log file, with a redacting safety net.

Under systemd (JOURNAL_STREAM names our stderr) lines carry no timestamp (the
journal adds one) and start with a `<N>` syslog priority so `journalctl -p err`
works. Elsewhere lines get a timestamp. Every handler installed here has a
`RedactingFilter`: code must not log secrets in the first place, but if a token,
code, cookie, Authorization header or client secret slips into a message or a
traceback, it is masked before it is written.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

MASK = "[REDACTED]"
_MARK = "_mooddj_handler"

# Names whose values are secrets wherever they appear as key=value, key: value or "key": "value".
_SECRET_KEYS = "|".join((
    "access_token", "refresh_token", "id_token", "device_code", "user_code", "code_verifier",
    "client_secret", "api_key", "apikey", "x-rapidapi-key", "soundnet_key", "password",
    "passwd", "secret", "token", "csrf_token", "csrf", "session_token", "session", "sid",
    "mooddj_session", "assertion",
))
_QUOTE = r"[\"']?"
_FRESH = r"(?!\[REDACTED\])"  # keeps redact() idempotent (a record may pass two handlers)

_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # Authorization headers, in HTTP form, dict reprs and JSON: mask the whole value.
    (re.compile(r"(?i)(\bauthorization" + _QUOTE + r"\s*[:=]\s*" + _QUOTE + r")" + _FRESH
                + r"[^\s\"'][^\"'\r\n,}]*"), r"\1" + MASK),
    # Cookie and Set-Cookie headers (all cookie values).
    (re.compile(r"(?i)(\b(?:set-)?cookie" + _QUOTE + r"\s*[:=]\s*" + _QUOTE + r")" + _FRESH
                + r"[^\s\"'][^\"'\r\n}]*"), r"\1" + MASK),
    # key=value / key: value / "key": "value" for secret-looking keys.
    (re.compile(r"(?i)(" + _QUOTE + r"\b(?:" + _SECRET_KEYS + r")" + _QUOTE
                + r"\s*[:=]\s*" + _QUOTE + r")" + _FRESH + r"[^\"'\s&,;)}\]]+"), r"\1" + MASK),
    # OAuth code and state in query strings and form bodies.
    (re.compile(r"(?i)((?:^|[?&#\s\"'])code=)(?!\[REDACTED\])[^&\s\"'#;,)]+"), r"\1" + MASK),
    (re.compile(r"(?i)((?:^|[?&#])state=)(?!\[REDACTED\])[^&\s\"'#;,)]+"), r"\1" + MASK),
    # "code": "<long value>" in JSON (short values are error codes, kept).
    (re.compile(r"(?i)([\"']code[\"']\s*:\s*[\"'])[^\"']{12,}"), r"\1" + MASK),
    # Bearer / Basic credentials anywhere.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + MASK),
    # Well-known token shapes: Google access/refresh tokens, client secrets, GitHub tokens.
    (re.compile(r"\bya29\.[\w.-]+"), MASK),
    (re.compile(r"(?<![\w/])1//[\w.-]{20,}"), MASK),
    (re.compile(r"\bGOCSPX-[\w-]+"), MASK),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,})"), MASK),
    # Values sealed by core.crypto.
    (re.compile(r"\bv1\.[0-9a-f]{16}\.[\w-]+"), MASK),
    # JWTs: three base64url parts, the header always starts with eyJ ('{"').
    (re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*"), MASK),
    (re.compile(r"(?<![\w.-])[\w-]{16,}\.[\w-]{16,}\.[\w-]{16,}(?![\w.-])"), MASK),
]

_LONG = re.compile(r"(?<![\w+/=-])[A-Za-z0-9+/_-]{32,}={0,2}(?![\w+/=-])")
_HEX = re.compile(r"[0-9a-fA-F]+")


def _long_secret(m: re.Match[str]) -> str:
    """Mask long runs that look random (hex, or base64 mixing cases and digits)."""
    s = m.group(0)
    if s.startswith("/"):
        return s  # an absolute path, not a secret
    if _HEX.fullmatch(s) and any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
        return MASK
    core = s.rstrip("=")
    if (any(c.isdigit() for c in core) and any(c.islower() for c in core)
            and any(c.isupper() for c in core)):
        return MASK
    return s


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced by [REDACTED]."""
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return _LONG.sub(_long_secret, text)


class RedactingFilter(logging.Filter):
    """Masks secrets in the formatted message and in traceback text of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_mooddj_redacted", False):
            return True  # already done by another handler's filter
        record._mooddj_redacted = True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw parts, redacted
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """`<priority>LEVEL logger: message` (journald adds time, unit and pid)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        pri = _PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{pri}>{line}" for line in text.splitlines() or [""])


def journal_stderr(env: dict[str, str] | None = None) -> bool:
    """True when stderr is connected to the journal (JOURNAL_STREAM matches it)."""
    env = dict(os.environ) if env is None else env
    value = env.get("JOURNAL_STREAM", "")
    if not value:
        return False
    try:
        dev, ino = (int(x) for x in value.split(":", 1))
        st = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError, AttributeError):
        return True  # set but not checkable: trust it
    return (st.st_dev, st.st_ino) == (dev, ino)


def setup_logging(level: str = "INFO", log_file: str | os.PathLike[str] | None = None, *,
                  journal: bool | None = None) -> None:
    """Configure the root logger: stderr (journald-friendly) and optionally a file."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _MARK, False):
            root.removeHandler(h)
            h.close()
    root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    if journal is None:
        journal = journal_stderr()
    stderr = logging.StreamHandler(sys.stderr)
    if journal:
        stderr.setFormatter(JournalFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        stderr.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    handlers: list[logging.Handler] = [stderr]
    if log_file:
        path = Path(log_file)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=2,
                                                  encoding="utf-8")
        fh.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
        handlers.append(fh)
    for h in handlers:
        h.addFilter(RedactingFilter())
        setattr(h, _MARK, True)
        root.addHandler(h)
    logging.captureWarnings(True)
