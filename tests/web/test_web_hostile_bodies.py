"""Whatever a stranger sends before pairing is a clear 400, never a 500 with a traceback
(a log flood): broken multipart, unknown charsets and transfer encodings, a client that
leaves mid-body."""

from __future__ import annotations

import asyncio
import logging

import pytest

pytestmark = pytest.mark.timeout(60)

# -- malformed bodies (review F-2) ---------------------------------------------------------

MULTIPART = "multipart/form-data; boundary=x"
BAD_BODIES = [
    pytest.param(MULTIPART, b"--x\r\nbroken", id="multipart-bad-header-line"),
    pytest.param("application/x-www-form-urlencoded; charset=bogus", b"a=1",
                 id="form-unknown-charset"),
    pytest.param(MULTIPART, b'--x\r\nContent-Disposition: form-data; name="a"\r\n'
                 b"Content-Type: text/plain; charset=bogus\r\n\r\nv\r\n--x--\r\n",
                 id="multipart-part-unknown-charset"),
    pytest.param(MULTIPART, b'--x\r\nContent-Disposition: form-data; name="a"\r\n'
                 b"Content-Transfer-Encoding: x-bogus\r\n\r\nv\r\n--x--\r\n",
                 id="multipart-unknown-transfer-encoding"),
    pytest.param(MULTIPART, b'--x\r\nContent-Disposition: form-data; name="_charset_"\r\n\r\n'
                 b'bogus\r\n--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n'
                 b"--x--\r\n", id="multipart-charset-field"),
]


@pytest.mark.parametrize(("content_type", "body"), BAD_BODIES)
@pytest.mark.parametrize("path", ["/pair/request", "/pair/code", "/auth/logout"])
async def test_malformed_bodies_before_pairing_are_a_400_without_a_traceback(
        box, browser, caplog, content_type, body, path):
    caplog.set_level(logging.INFO)
    b = browser()
    headers = {"Content-Type": content_type, "X-CSRF-Token": await b.refresh_csrf()}
    async with b.http.post(box.base + path, data=body, headers=headers) as r:
        got = await r.json()
        assert r.status == 400, got
        assert got["error"]["code"] == "bad_request"
    assert "Traceback" not in caplog.text
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


async def test_json_in_an_unknown_charset_is_a_400(box, browser, caplog):
    b = browser()
    headers = {"Content-Type": "application/json; charset=bogus",
               "X-CSRF-Token": await b.refresh_csrf()}
    async with b.http.post(box.base + "/pair/code", data=b'{"code": "x"}',
                           headers=headers) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "bad_json"
    assert "Traceback" not in caplog.text


async def test_a_client_that_leaves_mid_body_leaves_no_traceback(box, browser, caplog):
    b = browser()
    await b.refresh_csrf()
    _reader, writer = await asyncio.open_connection("127.0.0.1", box.port)
    writer.write(b"POST /pair/request HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 1000\r\n\r\ncsrf_token=x")
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.transport.abort()
    await asyncio.sleep(0.3)
    assert "Traceback" not in caplog.text
    assert "unhandled error" not in caplog.text
