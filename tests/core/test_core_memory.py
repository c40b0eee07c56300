"""Freed heap really goes back to the system (glibc keeps it mapped otherwise)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from appliance.core import memory

CHILD = """
import ctypes, psutil
from appliance.core.memory import release_free_memory
p = psutil.Process()
blocks = [ctypes.create_string_buffer(100_000) for _ in range(600)]  # 60 MB in small blocks
del blocks[:-1]  # freed, but the last one pins the top of the heap
before = p.memory_info().rss
ok = release_free_memory()
print(ok, (before - p.memory_info().rss) // 2**20)
"""


@pytest.mark.skipif(memory._TRIM is None, reason="not glibc: nothing to trim")
def test_release_free_memory_shrinks_resident_memory_after_frees():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "True"
    assert int(out[1]) >= 20  # most of the 60 MB freed in the middle of the heap came back
