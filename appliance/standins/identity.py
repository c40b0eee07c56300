"""A loopback stand-in for Google, Microsoft and GitHub device-flow sign-in.

Each provider lives under its own base path and speaks its own dialect:

- `{base}/google`: `POST /device/code`, `POST /token` (`verification_url`;
  428 authorization_pending, 403 slow_down / access_denied, 400 expired_token;
  case-sensitive user codes; RS256 `id_token`), JWKS `GET /oauth2/v3/certs`.
- `{base}/microsoft`: `POST /{tenant}/oauth2/v2.0/devicecode` and `/token`
  (`verification_uri`, `message`; every error is a 400; `authorization_declined`,
  `bad_verification_code`; `id_token` only with the `openid` scope, `iss` names
  the tenant id), JWKS `GET /{tenant}/discovery/v2.0/keys`.
- `{base}/github`: `POST /login/device/code`, `POST /login/oauth/access_token`
  (errors in an HTTP 200 body; form-encoded unless `Accept: application/json`;
  `slow_down` carries the new `interval`), and `{base}/github-api`: `GET /user`,
  `GET /user/emails`.

Polling faster than the interval earns `slow_down` (and 5 s more, or
`slow_down_step`). A person approves or denies a code on `{base}/device` (or
the per-provider address the provider returned); tests use the methods
`approve`, `deny`, `expire`, `force_slow_down`, `fail_next` and the ID token
forgeries. Run `python -m appliance.standins.identity` to try it by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from appliance.standins.serving import Served

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CONSUMERS_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
APPROVAL_PATHS = {"google": "/google/device", "microsoft": "/microsoft/devicelogin",
                  "github": "/github/login/device"}
CODE_LETTERS = "BCDFGHJKLMNPQRSTVWXZ"
FORGERIES = ("wrong_key", "wrong_aud", "expired", "alg_none", "hs256", "wrong_iss")
# How an OAuth client can be set up wrong at a provider (`IdentitySim.misconfigured`).
# Google has refused a wrong client type at the device code (2022) and, lately, only at
# the poll after the person approved (2024-25): "wrong_type" and "wrong_type_late".
MISCONFIGURATIONS = ("wrong_type", "wrong_type_late", "device_flow_disabled",
                     "public_flows_off")

# Google's polling texts (google-token.json, google-token-seen.json); expired_token and
# invalid_grant have none on record, so they carry only the code.
GOOGLE_TEXTS = {"authorization_pending": "Precondition Required", "slow_down": "Forbidden",
                "access_denied": "Forbidden", "invalid_client": "Unauthorized"}

# Where each refusal's wire shape comes from (issue threads and fixtures quoting the
# providers' real answers; the providers' docs name the error codes).
SOURCES = {
    "google unknown client: 401 invalid_client": "FeroxRev/Pokemon-Go-Rocket-API#52",
    "google wrong client type: 401 invalid_client 'Invalid client type.'":
        "anxdpanic/plugin.video.youtube#325, #299",
    "google wrong client type, refused after approval: token 401 'Invalid client type.'":
        "anxdpanic/plugin.video.youtube#1117, #1100, #718",
    "google scope not allowed: 400 invalid_scope": "googleapis/oauth2client#88, "
        "dermesser/yup-oauth2#155",
    "google wrong secret at the token endpoint: 401 invalid_client 'Unauthorized'":
        "davidstrauss/google-drive-recursive-ownership#30 (a changed secret), "
        "adrielcafe/AndroidOAuth#2 (the body)",
    "microsoft unknown app: 400 unauthorized_client AADSTS700016":
        "diffblue/gitlab ee/spec/fixtures/lib/microsoft/graph_client_responses/"
        "invalid_client_id.json",
    "microsoft unknown tenant: 400 invalid_request AADSTS90002":
        "learn.microsoft.com reference-aadsts-error-codes (90002 InvalidTenantName)",
    "microsoft public client flows off: token 400 invalid_client AADSTS7000218":
        "Azure/azure-sdk-for-js#21395, microsoft/AzDevOpsDemoGenerator#14",
    "github unknown client id: 404 {'error': 'Not Found'}": "emdash-cms/emdash#157, "
        "github/app#1320",
    "github device flow off: 400 device_flow_disabled": "octokit/create-octokit-project.js"
        "#208 (status 400), simoneb/ghenv#10 (body)",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(secrets.token_hex(8), rsa.generate_private_key(public_exponent=65537,
                                                                  key_size=2048))

    def jwk(self) -> dict[str, str]:
        pub = self.private.public_key().public_numbers()
        n = pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")
        e = pub.e.to_bytes((pub.e.bit_length() + 7) // 8, "big")
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                "n": _b64(n), "e": _b64(e)}


@dataclass
class Grant:
    """One device code and what became of it."""

    provider: str
    client_id: str
    scope: str
    tenant: str
    device_code: str
    user_code: str
    expires: float
    interval: float
    state: str = "pending"  # pending | approved | denied | used
    last_poll: float | None = None
    user: dict[str, str] = field(default_factory=dict)
    access_token: str = ""


class IdentitySim:
    """Start with `await sim.start()`; `sim.base_url` is `http://127.0.0.1:PORT`."""

    def __init__(self, *, interval: float = 5, expires_in: float = 900,
                 slow_down_step: float = 5, enforce_interval: bool = True,
                 tenant_id: str = DEFAULT_TENANT_ID, clients: set[str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.expires_in = expires_in
        self.slow_down_step = slow_down_step
        self.enforce_interval = enforce_interval
        self.tenant_id = tenant_id
        self.clients = clients  # None: any client id is registered; else only these
        # client id -> one of MISCONFIGURATIONS: the client exists but is set up wrong.
        self.misconfigured: dict[str, str] = {}
        # client id -> its secret (Google): a poll with another secret is refused.
        self.client_secrets: dict[str, str] = {}
        self._clock = clock
        self.keys = {"google": [SigningKey.generate()], "microsoft": [SigningKey.generate()]}
        self._wrong_key: SigningKey | None = None
        self.grants: dict[str, Grant] = {}  # by device code
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, form
        self._forge: list[str] = []
        self._slow_down = 0
        self._failures: dict[str, list[tuple[int, str]]] = {}
        self._served = Served()
        self.port = 0

    # -- lifecycle ----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def provider_url(self, name: str) -> str:
        """Base URL to configure as `[identity.<name>] base_url` ("github-api" for api_url)."""
        return f"{self.base_url}/{name}"

    def identity_config(self, client_ids: dict[str, str] | None = None) -> dict[str, Any]:
        """An `[identity]` config table pointing all three providers at this stand-in."""
        ids = {"google": "sim-google.apps.example", "microsoft": "sim-microsoft-app",
               "github": "Iv1.simgithub"} | (client_ids or {})
        return {
            "google": {"client_id": ids["google"], "client_secret": "sim-google-secret",
                       "base_url": self.provider_url("google")},
            "microsoft": {"client_id": ids["microsoft"],
                          "base_url": self.provider_url("microsoft")},
            "github": {"client_id": ids["github"], "base_url": self.provider_url("github"),
                       "api_url": self.provider_url("github-api")},
        }

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> IdentitySim:
        """Serve on `host:port` (0: any free port)."""
        self.port = await self._served.start(self.app(), host, port)
        return self

    async def stop(self) -> None:
        await self._served.stop()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._log_requests])
        r = app.router
        r.add_get("/", self._index)
        for path in ("/device", *APPROVAL_PATHS.values()):
            r.add_get(path, self._approval_page)
            r.add_post(path, self._approval_post)
        r.add_post("/google/device/code", self._google_code)
        r.add_post("/google/token", self._google_token)
        r.add_get("/google/oauth2/v3/certs", self._jwks("google"))
        r.add_post("/microsoft/{tenant}/oauth2/v2.0/devicecode", self._ms_code)
        r.add_post("/microsoft/{tenant}/oauth2/v2.0/token", self._ms_token)
        r.add_get("/microsoft/{tenant}/discovery/v2.0/keys", self._jwks("microsoft"))
        r.add_post("/github/login/device/code", self._gh_code)
        r.add_post("/github/login/oauth/access_token", self._gh_token)
        r.add_get("/github-api/user", self._gh_user)
        r.add_get("/github-api/user/emails", self._gh_emails)
        return app

    @web.middleware
    async def _log_requests(self, request: web.Request, handler: Any) -> web.StreamResponse:
        form = dict(await request.post()) if request.method == "POST" else {}
        self.requests.append((request.method, request.path, {k: str(v) for k, v in form.items()}))
        return await handler(request)

    # -- test controls --------------------------------------------------------

    def grant(self, user_code: str, provider: str | None = None) -> Grant:
        """The grant with this user code (Google's codes are case-sensitive)."""
        for g in self.grants.values():
            if provider and g.provider != provider:
                continue
            if g.provider == "google":
                if hmac.compare_digest(g.user_code, user_code.strip()):
                    return g
            elif _norm(g.user_code) == _norm(user_code):
                return g
        raise LookupError("no such code: check it and type it exactly as the box shows it")

    def approve(self, user_code: str, *, subject: str | None = None, email: str | None = None,
                name: str | None = None, tid: str | None = None,
                provider: str | None = None) -> Grant:
        """Approve a waiting code as a test user (subject derived from the email if omitted)."""
        g = self.grant(user_code, provider)
        if g.state != "pending" or self._clock() >= g.expires:
            raise LookupError("this code is no longer waiting for approval")
        email = email if email is not None else "alex@example.com"
        g.user = {"email": email, "name": name if name is not None else "Alex Example",
                  "subject": subject or _subject(g.provider, email),
                  "tid": tid or self._tid(g.tenant)}
        g.state = "approved"
        return g

    def deny(self, user_code: str, provider: str | None = None) -> Grant:
        """The person said no."""
        g = self.grant(user_code, provider)
        g.state = "denied"
        return g

    def expire(self, user_code: str, provider: str | None = None) -> Grant:
        """The code runs out now."""
        g = self.grant(user_code, provider)
        g.expires = self._clock()
        return g

    def force_slow_down(self, n: int = 1) -> None:
        """The next `n` token polls answer slow_down (and the interval grows)."""
        self._slow_down += n

    def fail_next(self, status: int = 500, count: int = 1, endpoint: str = "token",
                  error: str = "") -> None:
        """The next `count` calls to `endpoint` (token|device|jwks|api) answer `status`.

        With `error`, the answer is a JSON `{"error": error}` (e.g. Google's 403
        `rate_limit_exceeded`), else an HTML error page.
        """
        self._failures.setdefault(endpoint, []).extend([(status, error)] * count)

    def forge_next(self, kind: str) -> None:
        """Forge the next ID token (one of FORGERIES)."""
        if kind not in FORGERIES:
            raise ValueError(f"unknown forgery {kind!r}; use one of {', '.join(FORGERIES)}")
        self._forge.append(kind)

    def rotate_key(self, provider: str = "google") -> SigningKey:
        """Sign from now on with a new key (published next to the old one)."""
        key = SigningKey.generate()
        self.keys[provider].append(key)
        return key

    def pending_codes(self, provider: str | None = None) -> list[str]:
        """User codes still waiting for a person, oldest first."""
        now = self._clock()
        return [g.user_code for g in self.grants.values() if g.state == "pending"
                and now < g.expires and (provider is None or g.provider == provider)]

    # -- shared machinery -----------------------------------------------------

    def _fail(self, endpoint: str) -> web.Response | None:
        queue = self._failures.get(endpoint)
        if not queue:
            return None
        status, error = queue.pop(0)
        headers = {"Retry-After": "0"} if status == 429 else {}
        if error:
            return web.json_response({"error": error, "error_description": error},
                                     status=status, headers=headers)
        return web.Response(status=status, text="<html><body>Server Error</body></html>",
                            content_type="text/html", headers=headers)

    def _known(self, client_id: str | None) -> bool:
        return bool(client_id) and (self.clients is None or client_id in self.clients)

    def _tid(self, tenant: str) -> str:
        if tenant == "consumers":
            return CONSUMERS_TENANT_ID
        return tenant if len(tenant) == 36 and tenant.count("-") == 4 else self.tenant_id

    def _new_grant(self, provider: str, client_id: str, scope: str, tenant: str = "") -> Grant:
        if provider == "microsoft":
            code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9))
        else:
            half = [secrets.choice(CODE_LETTERS) for _ in range(8)]
            code = "".join(half[:4]) + "-" + "".join(half[4:])
        g = Grant(provider, client_id, scope, tenant, secrets.token_urlsafe(32), code,
                  self._clock() + self.expires_in, float(self.interval))
        self.grants[g.device_code] = g
        return g

    def _poll(self, form: dict[str, str], provider: str) -> tuple[str, Grant | None]:
        """Common token-endpoint logic: an error code, or "" with the approved grant."""
        if form.get("grant_type") != DEVICE_GRANT:
            return "unsupported_grant_type", None
        g = self.grants.get(form.get("device_code", ""))
        if g is None or g.provider != provider or g.state == "used":
            return "bad_code", None
        if not hmac.compare_digest(g.client_id, form.get("client_id", "")):
            return "invalid_client", None
        now = self._clock()
        if now >= g.expires:
            return "expired_token", None
        early = g.last_poll is not None and now - g.last_poll < g.interval
        g.last_poll = now
        if self._slow_down or (self.enforce_interval and early):
            self._slow_down = max(0, self._slow_down - 1)
            g.interval += self.slow_down_step
            return "slow_down", g
        if g.state == "pending":
            return "authorization_pending", None
        if g.state == "denied":
            return "access_denied", None
        g.state = "used"
        g.access_token = secrets.token_urlsafe(24)
        return "", g

    def _id_token(self, provider: str, g: Grant) -> str:
        now = int(time.time())
        user = g.user
        claims: dict[str, Any] = {"aud": g.client_id, "sub": user["subject"], "iat": now,
                                  "exp": now + 3600, "name": user["name"]}
        if provider == "google":
            claims |= {"iss": "https://accounts.google.com", "azp": g.client_id,
                       "email": user["email"], "email_verified": True}
        else:
            claims |= {"iss": f"https://login.microsoftonline.com/{user['tid']}/v2.0",
                       "tid": user["tid"], "nbf": now, "ver": "2.0",
                       "oid": str(_uuid_from(user["subject"])),
                       "preferred_username": user["email"], "email": user["email"]}
        key = self.keys[provider][-1]
        alg = "RS256"
        kind = self._forge.pop(0) if self._forge else ""
        if kind == "wrong_key":
            self._wrong_key = self._wrong_key or SigningKey.generate()
            key = SigningKey(key.kid, self._wrong_key.private)  # right kid, wrong key
        elif kind == "wrong_aud":
            claims["aud"] = "someone-elses-app"
        elif kind == "expired":
            claims |= {"iat": now - 7200, "exp": now - 3600}
        elif kind == "wrong_iss":
            claims["iss"] = "https://evil.example"
        elif kind in ("alg_none", "hs256"):
            alg = "none" if kind == "alg_none" else "HS256"
        header = _b64(json.dumps({"alg": alg, "kid": key.kid, "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims).encode())
        signed = f"{header}.{payload}".encode()
        if alg == "none":
            return f"{header}.{payload}."
        if alg == "HS256":  # the classic confusion attack: HMAC keyed with the public key
            secret = json.dumps(self.keys[provider][-1].jwk()).encode()
            return f"{header}.{payload}.{_b64(hmac.new(secret, signed, 'sha256').digest())}"
        sig = key.private.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64(sig)}"

    def _jwks(self, provider: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            return self._fail("jwks") or web.json_response(
                {"keys": [k.jwk() for k in self.keys[provider]]})
        return handler

    # -- Google ---------------------------------------------------------------

    async def _google_code(self, request: web.Request) -> web.Response:
        if (failed := self._fail("device")) is not None:
            return failed
        form = await _form(request)
        if not self._known(form.get("client_id")):
            return web.json_response({"error": "invalid_client",
                                      "error_description": "The OAuth client was not found."},
                                     status=401)
        if self.misconfigured.get(form["client_id"]) == "wrong_type":
            return web.json_response({"error": "invalid_client",
                                      "error_description": "Invalid client type."}, status=401)
        scopes = set(form.get("scope", "").split())
        if not scopes or not scopes <= {"openid", "email", "profile"}:
            return web.json_response({"error": "invalid_scope"}, status=400)
        g = self._new_grant("google", form["client_id"], form["scope"])
        return web.json_response({
            "device_code": g.device_code, "user_code": g.user_code,
            "verification_url": self.base_url + APPROVAL_PATHS["google"],
            "expires_in": _num(self.expires_in), "interval": _num(self.interval)})

    async def _google_token(self, request: web.Request) -> web.Response:
        if (failed := self._fail("token")) is not None:
            return failed
        form = await _form(request)
        wanted = self.client_secrets.get(form.get("client_id", ""))
        if not form.get("client_secret") or (wanted is not None and not hmac.compare_digest(
                wanted, form.get("client_secret", ""))):
            return web.json_response({"error": "invalid_client",
                                      "error_description": "Unauthorized"}, status=401)
        error, g = self._poll(form, "google")
        if not error and self.misconfigured.get(form.get("client_id", "")) == "wrong_type_late":
            error = "wrong_type"
        status = {"authorization_pending": 428, "slow_down": 403, "access_denied": 403,
                  "invalid_client": 401}.get(error, 400)
        if error == "bad_code":
            error = "invalid_grant"
        if error == "wrong_type":  # google-token-seen.json, "invalid-client-type"
            return web.json_response({"error": "invalid_client",
                                      "error_description": "Invalid client type."}, status=401)
        if error:
            body = {"error": error}
            if error in GOOGLE_TEXTS:
                body["error_description"] = GOOGLE_TEXTS[error]
            return web.json_response(body, status=status)
        assert g is not None
        # "refresh tokens are always returned for devices" (google-token.json, "ok")
        return web.json_response({
            "access_token": g.access_token, "expires_in": 3599, "token_type": "Bearer",
            "scope": g.scope, "refresh_token": secrets.token_urlsafe(32),
            "id_token": self._id_token("google", g)})

    # -- Microsoft ------------------------------------------------------------

    async def _ms_code(self, request: web.Request) -> web.Response:
        if (failed := self._fail("device")) is not None:
            return failed
        form = await _form(request)
        tenant = request.match_info["tenant"]
        if not _tenant_exists(tenant):
            return _ms_error("invalid_request", f"AADSTS90002: Tenant '{tenant[:60]}' not "
                             "found. Check to make sure you have the correct tenant ID and "
                             "are signing into the correct cloud.", 90002)
        if not self._known(form.get("client_id")):
            return _ms_error("unauthorized_client", "AADSTS700016: Application with "
                             f"identifier '{form.get('client_id', '')[:60]}' was not found "
                             "in the directory.", 700016)
        g = self._new_grant("microsoft", form["client_id"], form.get("scope", ""),
                            request.match_info["tenant"])
        url = self.base_url + APPROVAL_PATHS["microsoft"]
        return web.json_response({
            "device_code": g.device_code, "user_code": g.user_code, "verification_uri": url,
            "expires_in": _num(self.expires_in), "interval": _num(self.interval),
            "message": f"To sign in, use a web browser to open the page {url} and enter the "
                       f"code {g.user_code} to authenticate."})

    async def _ms_token(self, request: web.Request) -> web.Response:
        if (failed := self._fail("token")) is not None:
            return failed
        form = await _form(request)
        if self.misconfigured.get(form.get("client_id", "")) == "public_flows_off":
            return _ms_error("invalid_client", "AADSTS7000218: The request body must contain "
                             "the following parameter: 'client_assertion' or "
                             "'client_secret'.", 7000218)
        error, g = self._poll(form, "microsoft")
        error = {"access_denied": "authorization_declined",
                 "bad_code": "bad_verification_code"}.get(error, error)
        if error:
            return _ms_error(error, MS_TEXTS.get(error, f"AADSTS: {error}"))
        assert g is not None
        body = {"token_type": "Bearer", "scope": g.scope, "expires_in": 3599,
                "access_token": g.access_token}
        if "openid" in g.scope.split():
            body["id_token"] = self._id_token("microsoft", g)
        return web.json_response(body)

    # -- GitHub ---------------------------------------------------------------

    async def _gh_code(self, request: web.Request) -> web.Response:
        if (failed := self._fail("device")) is not None:
            return failed
        form = await _form(request)
        if not self._known(form.get("client_id")):
            return web.json_response({"error": "Not Found"}, status=404)
        if self.misconfigured.get(form["client_id"]) == "device_flow_disabled":
            return web.json_response({
                "error": "device_flow_disabled",
                "error_description": "Device Flow must be explicitly enabled for this App",
                "error_uri": "https://docs.github.com"}, status=400)
        g = self._new_grant("github", form["client_id"], form.get("scope", ""))
        return _gh(request, {
            "device_code": g.device_code, "user_code": g.user_code,
            "verification_uri": self.base_url + APPROVAL_PATHS["github"],
            "expires_in": _num(self.expires_in), "interval": _num(self.interval)})

    async def _gh_token(self, request: web.Request) -> web.Response:
        if (failed := self._fail("token")) is not None:
            return failed
        form = await _form(request)
        error, g = self._poll(form, "github")
        error = {"bad_code": "incorrect_device_code",
                 "invalid_client": "incorrect_client_credentials"}.get(error, error)
        if error:  # every device-flow error names its docs (github-token.json)
            body: dict[str, Any] = {"error": error}
            if error in GH_TEXTS:
                body["error_description"] = GH_TEXTS[error]
            body["error_uri"] = GH_ERROR_URI
            if error == "slow_down":
                assert g is not None
                body["interval"] = _num(g.interval)
            return _gh(request, body)
        assert g is not None
        return _gh(request, {"access_token": g.access_token, "token_type": "bearer",
                             "scope": g.scope})

    def _gh_grant(self, request: web.Request) -> Grant | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token:
            return None
        return next((g for g in self.grants.values()
                     if g.access_token and hmac.compare_digest(g.access_token, token)), None)

    async def _gh_user(self, request: web.Request) -> web.Response:
        if (failed := self._fail("api")) is not None:
            return failed
        g = self._gh_grant(request)
        if g is None:
            return web.json_response({"message": "Bad credentials"}, status=401)
        login = "".join(c for c in g.user["email"].split("@")[0] if c.isalnum()) or "octo"
        return web.json_response({"login": login, "id": int(g.user["subject"]),
                                  "name": g.user["name"] or None, "email": None,
                                  "type": "User"})

    async def _gh_emails(self, request: web.Request) -> web.Response:
        if (failed := self._fail("api")) is not None:
            return failed
        g = self._gh_grant(request)
        if g is None:
            return web.json_response({"message": "Bad credentials"}, status=401)
        if "user:email" not in g.scope.split() and "user" not in g.scope.split():
            return web.json_response({"message": "Not Found"}, status=404)
        noreply = f"{g.user['subject']}+octo@users.noreply.github.com"
        return web.json_response([
            {"email": noreply, "primary": False, "verified": True, "visibility": None},
            {"email": g.user["email"], "primary": True, "verified": True,
             "visibility": "private"}])

    # -- the approval page ----------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return _page("Identity stand-in", "<p>Approve a code at <a href=\"/device\">/device"
                     "</a>.</p>")

    async def _approval_page(self, request: web.Request) -> web.Response:
        return _page(_title(request.path), _form_html(request.path,
                                                      request.query.get("user_code", "")))

    async def _approval_post(self, request: web.Request) -> web.Response:
        form = await _form(request)
        code = form.get("user_code", "")[:64]
        provider = next((p for p, path in APPROVAL_PATHS.items() if path == request.path), None)
        action = form.get("action", "")
        try:
            if action == "deny":
                self.deny(code, provider)
                msg = "You denied the sign-in. You can close this page."
            elif action == "approve":
                subject = form.get("subject", "").strip()[:64] or None
                g = self.grant(code, provider)
                if subject and g.provider == "github" and not subject.isdigit():
                    raise LookupError("a GitHub subject is a number; leave it empty or use digits")
                self.approve(code, subject=subject, email=form.get("email", "")[:200],
                             name=form.get("name", "")[:200], provider=provider)
                msg = "Approved. Go back to the box's page: it signs you in by itself."
            else:
                raise LookupError("choose Approve or Deny")
        except LookupError as err:
            body = f'<p class="error" id="error">{html.escape(str(err))}</p>'
            return _page(_title(request.path), body + _form_html(request.path, code), 400)
        return _page("Done", f'<p id="result">{html.escape(msg)}</p>')


def _title(path: str) -> str:
    names = {"google": "Google", "microsoft": "Microsoft", "github": "GitHub"}
    provider = next((p for p, x in APPROVAL_PATHS.items() if x == path), None)
    return f"Sign in with {names[provider]}" if provider else "Sign in to the box"


def _norm(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def _subject(provider: str, email: str) -> str:
    digest = hashlib.sha256(f"{provider}:{email.lower()}".encode()).digest()
    if provider == "google":
        return "1" + str(int.from_bytes(digest[:10], "big")).zfill(20)[:20]
    if provider == "github":
        return str(int.from_bytes(digest[:4], "big") % 90_000_000 + 1_000_000)
    return _b64(digest)


def _uuid_from(subject: str) -> str:
    h = hashlib.sha256(subject.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


async def _form(request: web.Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.post()).items()}


GH_ERROR_URI = ("https://docs.github.com/developers/apps/authorizing-oauth-apps"
                "#error-codes-for-the-device-flow")
# GitHub's texts on record (github-token.json, github-token-seen.json); the other codes
# arrive without one there.
GH_TEXTS = {"authorization_pending": "The authorization request is still pending.",
            "slow_down": "Too many requests have been made in the same timeframe.",
            "expired_token": "The `device code` has expired."}
_AADSTS = re.compile(r"^AADSTS(\d*): ")
# Entra's texts on record (microsoft-token.json, microsoft-token-seen.json).
MS_TEXTS = {"authorization_pending": "OAuth 2.0 device flow error. Authorization is pending. "
                                     "Continue polling.",
            "expired_token": "The verification code expired.",
            "bad_verification_code": "Invalid verification code."}
MS_CODES = {"authorization_pending": 70016, "bad_verification_code": 70018,
            "expired_token": 70019, "authorization_declined": 70000,
            "invalid_client": 700016}


def _ms_error(error: str, description: str, code: int | None = None) -> web.Response:
    """Entra's error body (tests/contracts/corpus/microsoft-token.json): codes and trace ids."""
    named = _AADSTS.match(description)
    code = code or (int(named.group(1)) if named and named.group(1) else None) \
        or MS_CODES.get(error, 70016)
    trace, correlation, stamp = str(uuid.uuid4()), str(uuid.uuid4()), time.strftime("%F %TZ")
    return web.json_response({"error": error, "error_description": f"AADSTS{code}: "
                              f"{_AADSTS.sub('', description)} Trace ID: {trace} "
                              f"Correlation ID: {correlation} Timestamp: {stamp}",
                              "error_codes": [code], "timestamp": stamp,
                              "trace_id": trace, "correlation_id": correlation,
                              "error_uri": f"https://login.microsoftonline.com/error?code="
                                           f"{code}"},
                             status=400)


def _tenant_exists(tenant: str) -> bool:
    """common/organizations/consumers, a GUID or a domain: tenants the stand-in accepts."""
    if tenant in ("common", "organizations", "consumers"):
        return True
    if len(tenant) == 36 and tenant.count("-") == 4:
        return all(c in "0123456789abcdefABCDEF-" for c in tenant)
    return "." in tenant and tenant.replace(".", "").replace("-", "").isalnum()


def _gh(request: web.Request, body: dict[str, Any]) -> web.Response:
    """GitHub answers form-encoded unless the client asked for JSON."""
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response(body)
    return web.Response(text=urlencode({k: str(v) for k, v in body.items()}),
                        content_type="application/x-www-form-urlencoded")


def _page(title: str, body: str, status: int = 200) -> web.Response:
    doc = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;"
        "max-width:28rem;margin:1rem auto;padding:0 1rem}label{display:block;margin:.6rem 0}"
        "input{width:100%;box-sizing:border-box;font-size:1.1rem;padding:.3rem}button{font-size:1.1rem;margin:.5rem"
        " .5rem 0 0;padding:.4rem 1rem}.error{color:#a00}</style></head><body>"
        f"<p><small>Identity stand-in (not a real provider)</small></p>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>")
    return web.Response(text=doc, content_type="text/html", status=status,
                        headers={"Content-Security-Policy": "default-src 'none'; "
                                 "style-src 'unsafe-inline'; form-action 'self'",
                                 "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"})


def _form_html(action: str, code: str) -> str:
    e = html.escape
    return (
        f'<form method="post" action="{e(action)}">'
        f'<label>Code shown on the box <input id="user_code" name="user_code" '
        f'value="{e(code)}" autocomplete="off" autocapitalize="characters" required></label>'
        '<fieldset><legend>Test user</legend>'
        '<label>Name <input id="name" name="name" value="Alex Example"></label>'
        '<label>Email <input id="email" name="email" type="email" value="alex@example.com">'
        '</label><label>Subject (empty: derived from the email) '
        '<input id="subject" name="subject" value=""></label></fieldset>'
        '<button id="approve" name="action" value="approve">Approve</button>'
        '<button id="deny" name="action" value="deny">Deny</button></form>')


async def _serve(args: argparse.Namespace) -> None:
    sim = IdentitySim(interval=args.interval, expires_in=args.expires_in)
    await sim.start(args.host, args.port)
    print(f"identity stand-in at {sim.base_url} (approve codes at {sim.base_url}/device)",
          flush=True)
    print("config.toml:")
    for name, table in sim.identity_config().items():
        print(f"[identity.{name}]")
        for key, value in table.items():
            print(f'{key} = "{value}"', flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m appliance.standins.identity",
                                     description="Device-flow sign-in stand-in on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--expires-in", type=float, default=900)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
