"""Sign-in providers set up from the owner's page: stored sealed, tested, merged with config.

The owner pastes a client id (and Google's client secret, Microsoft's tenant)
on the page. `check_client` tests them at once the way a sign-in starts: a
device-code request and one token poll (which answers "pending" when the
client and secret are right), and names each refusal the provider gives in one
line. `effective_providers` merges the page's values with the config: a
provider whose `client_id` is set in the config file keeps the config's values.
Values are sealed at rest (`identity_clients`, sealed columns of `identity.schema.TABLES`).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from sqlite_utils import Database

from appliance.core.crypto import Sealer
from appliance.identity.providers import (
    DEVICE_GRANT,
    MICROSOFT_SPECIAL_TENANTS,
    PROVIDERS,
    Provider,
    build_providers,
    make_provider,
)

PLATFORM = "identity"
_ID_RE = {
    # Google: <digits>-<letters/digits>.apps.googleusercontent.com
    "google": re.compile(r"^[0-9]{6,}-[a-z0-9]{8,64}\.apps\.googleusercontent\.com$"),
    # Microsoft: the Application (client) ID is a GUID.
    "microsoft": re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$"),
    # GitHub: OAuth Apps "Ov23li..." (20 chars) or older 20 hex; GitHub Apps "Iv1./Iv23..".
    "github": re.compile(r"^(Iv1\.[0-9a-f]{16}|[A-Za-z0-9]{20})$"),
}
_SECRET_RE = re.compile(r"^[A-Za-z0-9_\-]{10,100}$")
_TENANT_RE = re.compile(r"^([0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|"
                        r"[A-Za-z0-9][A-Za-z0-9.\-]{0,250}\.[A-Za-z]{2,})$")


class ClientRefused(Exception):
    """The provider (or the shape check) refused these client details; one line for people."""

    def __init__(self, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ClientValues:
    """What the owner typed for one provider (plain text, only in memory)."""

    provider: str
    client_id: str
    client_secret: str = ""
    tenant: str = ""


def validate(values: ClientValues) -> ClientValues:
    """The values trimmed, or ClientRefused naming what looks wrong before asking anyone."""
    spec = PROVIDERS.get(values.provider)
    if spec is None:
        raise ClientRefused("there is no such sign-in provider", "unknown_provider")
    cid, secret = values.client_id.strip(), values.client_secret.strip()
    tenant = values.tenant.strip() or ("common" if spec.name == "microsoft" else "")
    if not _ID_RE[spec.name].match(cid):
        raise ClientRefused(_ID_HINT[spec.name], "bad_client_id")
    if spec.needs_client_secret and not _SECRET_RE.match(secret):
        raise ClientRefused("paste the Client secret too: it is on the same page as the "
                            "Client ID (Google calls it secret, but it is not)",
                            "bad_client_secret")
    if not spec.needs_client_secret:
        secret = ""
    if spec.name == "microsoft" and tenant not in MICROSOFT_SPECIAL_TENANTS \
            and not _TENANT_RE.match(tenant):
        raise ClientRefused("the tenant is common, organizations, consumers, a Directory "
                            "(tenant) ID or a domain such as contoso.onmicrosoft.com",
                            "bad_tenant")
    return ClientValues(spec.name, cid, secret, tenant if spec.name == "microsoft" else "")


_ID_HINT = {
    "google": "that is not a Google client ID: it ends in .apps.googleusercontent.com",
    "microsoft": "that is not a Microsoft Application (client) ID: it looks like "
                 "1a2b3c4d-1234-5678-9abc-1234567890ab",
    "github": "that is not a GitHub Client ID: copy the 20-character Client ID from the "
              "OAuth App's page",
}


# -- storage -------------------------------------------------------------------

def _seal(sealer: Sealer, provider: str, field: str, value: str) -> str:
    return sealer.seal(value, user_id=provider, platform=PLATFORM, field=field) if value else ""


def _open(sealer: Sealer, provider: str, field: str, value: str) -> str:
    return sealer.open(value, user_id=provider, platform=PLATFORM, field=field) if value else ""


def save_client(db: Database, sealer: Sealer, values: ClientValues) -> None:
    """Store `values` sealed (replacing the provider's earlier ones)."""
    now = time.time()
    db.table("identity_clients").upsert({
        "provider": values.provider,
        "client_id": _seal(sealer, values.provider, "client_id", values.client_id),
        "client_secret": _seal(sealer, values.provider, "client_secret", values.client_secret),
        "tenant": values.tenant, "updated_at": now, "checked_at": now}, pk="provider")


def remove_client(db: Database, provider: str) -> bool:
    """Forget the page's values for `provider`; False if there were none."""
    return db.execute("DELETE FROM identity_clients WHERE provider = ?", [provider]).rowcount > 0


def stored_clients(db: Database, sealer: Sealer) -> dict[str, ClientValues]:
    """The page's values by provider, opened (a value that does not open is left out)."""
    from appliance.core.crypto import SealError

    out: dict[str, ClientValues] = {}
    if not db.table("identity_clients").exists():
        return out
    for row in db.query("SELECT * FROM identity_clients"):
        name = row["provider"]
        with contextlib.suppress(SealError):
            out[name] = ClientValues(name, _open(sealer, name, "client_id", row["client_id"]),
                                     _open(sealer, name, "client_secret",
                                           row["client_secret"] or ""),
                                     row["tenant"] or "")
    return out


def effective_providers(identity_config: Any, stored: Mapping[str, ClientValues]
                        ) -> dict[str, Provider]:
    """All three providers: the config's where it sets a client_id, else the page's."""
    out = build_providers(identity_config)
    for name, values in stored.items():
        pc = getattr(identity_config, name, None)
        if name not in out or pc is None or pc.client_id:
            continue  # the config file wins
        out[name] = make_provider(PROVIDERS[name], client_id=values.client_id,
                                  client_secret=values.client_secret,
                                  tenant=values.tenant if name == "microsoft" else "",
                                  base_url=pc.base_url, api_url=pc.api_url)
    return out


def source_of(identity_config: Any, stored: Mapping[str, ClientValues], name: str) -> str:
    """Where `name`'s client comes from: "config", "page" or ""."""
    pc = getattr(identity_config, name, None)
    if pc is not None and pc.client_id:
        return "config"
    return "page" if name in stored else ""


# -- the test ------------------------------------------------------------------

async def _post(session: aiohttp.ClientSession, url: str, data: dict[str, str],
                seconds: float) -> tuple[int, dict[str, Any]]:
    headers = {"Accept": "application/json"}
    async with session.post(url, data=data, headers=headers,
                            timeout=aiohttp.ClientTimeout(total=seconds)) as resp:
        text = await resp.text()
        body: Any = None
        if resp.content_type == "application/x-www-form-urlencoded":
            body = dict(parse_qsl(text))
        else:
            with contextlib.suppress(ValueError):
                body = json.loads(text)
        return resp.status, body if isinstance(body, dict) else {}


async def check_client(session: aiohttp.ClientSession, provider: Provider,
                       seconds: float = 10.0) -> str:
    """Ask `provider` for a device code and poll once; a one-line success, or ClientRefused."""
    label = provider.label
    data = {"client_id": provider.client_id, "scope": provider.spec.scopes}
    try:
        status, body = await _post(session, provider.device_code_url, data, seconds)
    except (aiohttp.ClientError, TimeoutError):
        raise ClientRefused(f"{label} could not be reached; check the box's internet "
                            f"connection and try again", "unreachable") from None
    if status != 200 or "error" in body or "device_code" not in body:
        raise ClientRefused(refusal_text(provider.name, "device", status, body),
                            _code(body, status))
    poll = {"grant_type": DEVICE_GRANT, "device_code": str(body["device_code"]),
            "client_id": provider.client_id}
    if provider.client_secret:
        poll["client_secret"] = provider.client_secret
    try:
        status, answer = await _post(session, provider.token_url, poll, seconds)
    except (aiohttp.ClientError, TimeoutError):
        raise ClientRefused(f"{label} gave a code but could not be reached again; "
                            f"try again", "unreachable") from None
    if answer.get("error") in ("authorization_pending", "slow_down"):
        return f"{label} accepted the client: household members can sign in with {label} now."
    raise ClientRefused(refusal_text(provider.name, "token", status, answer),
                        _code(answer, status))


def _code(body: Mapping[str, Any], status: int) -> str:
    return re.sub(r"[^a-z0-9_]", "", str(body.get("error") or f"http_{status}").lower())[:40]


def refusal_text(provider: str, step: str, status: int, body: Mapping[str, Any]) -> str:
    """One line saying what a provider's refusal means and what to change."""
    error = str(body.get("error") or "")
    desc = str(body.get("error_description") or "")
    label = PROVIDERS[provider].label if provider in PROVIDERS else provider
    if status >= 500 or status == 429:
        return f"{label} is not answering properly right now (HTTP {status}); try again later"
    if provider == "google":
        if error == "invalid_client" and "type" in desc.lower():
            return ('Google says this client is of the wrong type: create a new OAuth client '
                    'ID of type "TVs and Limited Input devices" and paste that one')
        if error == "invalid_client" and step == "token":
            return ("Google knows the Client ID but not this Client secret: copy the secret "
                    "of the same OAuth client again")
        if error == "invalid_client":
            return ("Google does not know this Client ID: copy it again from Google Auth "
                    "Platform > Clients (the project may have been deleted)")
        if error == "invalid_scope":
            return ("Google refused the scopes openid, email and profile: check the OAuth "
                    'client is of type "TVs and Limited Input devices"')
        if error in ("unauthorized_client", "access_denied", "org_internal"):
            return ("Google refused this client for sign-in; check the consent screen "
                    "(Audience: External) and that the client is not disabled")
    if provider == "microsoft":
        if "AADSTS700016" in desc or error == "unauthorized_client":
            return ("Microsoft does not know this Application (client) ID in this tenant: "
                    "copy it from the app's Overview, and use tenant common for an app that "
                    "accepts personal accounts")
        if "AADSTS90002" in desc or "AADSTS90013" in desc:
            return ("Microsoft does not know this tenant: use common, or copy the Directory "
                    "(tenant) ID from the app's Overview")
        if "AADSTS7000218" in desc or (error == "invalid_client" and step == "token"):
            return ('Microsoft wants a secret for this app: turn on "Allow public client '
                    'flows" under Authentication > Advanced settings, and save')
        if "AADSTS50194" in desc or "AADSTS50020" in desc:
            return ("this app accepts only accounts of its own organisation: set the tenant "
                    "to its Directory (tenant) ID, or change Supported account types")
        if error == "invalid_scope":
            return "Microsoft refused the scopes openid, profile and email for this app"
    if provider == "github":
        if error == "device_flow_disabled":
            return ('GitHub has device flow turned off for this app: tick "Enable Device Flow" '
                    'on the OAuth App\'s page and press Update application')
        if status == 404 or error in ("Not Found", "incorrect_client_credentials"):
            return ("GitHub does not know this Client ID: copy it again from Settings > "
                    "Developer settings > OAuth Apps")
        if error == "unauthorized_client":
            return ("GitHub refused device flow for this app: tick \"Enable Device Flow\" "
                    "on the OAuth App's page")
    shown = _code(body, status)
    return f"{label} refused the client ({shown}); check the values against the guide below"
