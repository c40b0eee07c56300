"""Waiting for a condition in tests: one helper for every folder (imported as `polling`)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


async def eventually(pred: Callable[[], Any], timeout: float = 5.0, what: str = "",
                     step: float = 0.01) -> Any:
    """Wait until `pred()` is truthy and return its value; fail after `timeout` seconds.

    `pred` may be a coroutine function (e.g. one that fetches a page)."""
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or pred}")
        await asyncio.sleep(step)
