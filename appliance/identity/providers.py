"""Sign-in providers as data: endpoints and device-flow dialect of Google, Microsoft, GitHub.

The real endpoints are the defaults. `build_providers` applies the config:
client ids and secrets, the Microsoft tenant, and `base_url`/`api_url`
overrides, which replace the scheme and host of every endpoint while keeping
its path (that is how the box is pointed at the loopback stand-in).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MICROSOFT_SPECIAL_TENANTS = ("common", "organizations", "consumers")
MICROSOFT_CONSUMERS_TID = "9188040d-6c67-4c5b-b112-36a304b66dad"


@dataclass(frozen=True)
class ProviderSpec:
    """What one provider's device flow looks like on the wire (real endpoints)."""

    name: str
    label: str
    device_code_url: str
    token_url: str
    jwks_url: str | None
    issuers: tuple[str, ...]  # may hold "{tid}" (filled from the token's `tid` claim)
    scopes: str
    verification_field: str  # "verification_url" (Google) or "verification_uri"
    pending_status: int = 400  # HTTP status of authorization_pending (Google 428, GitHub 200)
    pending_errors: tuple[str, ...] = ("authorization_pending",)
    slow_down_errors: tuple[str, ...] = ("slow_down",)
    denied_errors: tuple[str, ...] = ("access_denied",)
    expired_errors: tuple[str, ...] = ("expired_token",)
    error_statuses: tuple[int, ...] = (400,)  # HTTP statuses whose JSON body carries `error`
    needs_client_secret: bool = False
    accept_json: bool = True  # send Accept: application/json (GitHub answers form otherwise)
    has_id_token: bool = True
    user_api_url: str | None = None  # GitHub: identity comes from GET {api}/user
    default_interval: float = 5.0
    console: str = ""  # where a household creates its OAuth client
    client_kind: str = ""  # the kind of client to create there


PROVIDERS: dict[str, ProviderSpec] = {
    "google": ProviderSpec(
        name="google",
        label="Google",
        device_code_url="https://oauth2.googleapis.com/device/code",
        token_url="https://oauth2.googleapis.com/token",  # noqa: S106
        jwks_url="https://www.googleapis.com/oauth2/v3/certs",
        issuers=("accounts.google.com", "https://accounts.google.com"),
        scopes="openid email profile",
        verification_field="verification_url",
        pending_status=428,
        error_statuses=(400, 401, 403, 428),
        needs_client_secret=True,
        console="Google Cloud console > APIs & Services > Credentials",
        client_kind='an OAuth client ID of type "TVs and Limited Input devices"',
    ),
    "microsoft": ProviderSpec(
        name="microsoft",
        label="Microsoft",
        device_code_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
        token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",  # noqa: S106
        jwks_url="https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys",
        issuers=("https://login.microsoftonline.com/{tid}/v2.0",),
        scopes="openid profile email",
        verification_field="verification_uri",
        denied_errors=("authorization_declined", "access_denied"),
        expired_errors=("expired_token", "code_expired"),
        error_statuses=(400, 401),
        console="Microsoft Entra admin center > App registrations",
        client_kind='an app registration with "Allow public client flows" enabled',
    ),
    "github": ProviderSpec(
        name="github",
        label="GitHub",
        device_code_url="https://github.com/login/device/code",
        token_url="https://github.com/login/oauth/access_token",  # noqa: S106
        jwks_url=None,
        issuers=(),
        scopes="read:user user:email",
        verification_field="verification_uri",
        pending_status=200,
        expired_errors=("expired_token", "token_expired"),
        error_statuses=(200, 400, 401),
        has_id_token=False,
        user_api_url="https://api.github.com",
        console="GitHub > Settings > Developer settings > OAuth Apps",
        client_kind='an OAuth App with "Enable Device Flow" ticked',
    ),
}


def _rebase(url: str, base: str) -> str:
    """`url` with its scheme and host replaced by `base` (which may carry a path prefix)."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return base.rstrip("/") + path


@dataclass(frozen=True)
class Provider:
    """A provider as configured on this box: spec, client id, resolved endpoints."""

    spec: ProviderSpec
    client_id: str = ""
    client_secret: str = ""
    tenant: str = ""
    device_code_url: str = ""
    token_url: str = ""
    jwks_url: str | None = None
    user_api_url: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def configured(self) -> bool:
        """True when the box has what it needs to start a sign-in with this provider."""
        if not self.client_id:
            return False
        return bool(self.client_secret) or not self.spec.needs_client_secret

    @property
    def how_to_configure(self) -> str:
        """One line telling the owner which keys to set and where to create the client."""
        s = self.spec
        keys = f'[identity.{s.name}] client_id = "..."'
        if s.needs_client_secret:
            keys += ' and client_secret = "..."'
        if s.name == "microsoft":
            keys += ' (and tenant = "common" or your tenant id)'
        return (f"{s.label} sign-in is not configured: the owner sets it up on the box's "
                f"Sign-in setup page (create {s.client_kind} in {s.console}), or sets {keys} "
                f"in /etc/mooddj/config.toml and restarts mooddj.")

    def as_dict(self) -> dict[str, Any]:
        """Public, secret-free summary for pages and `doctor`."""
        return {"name": self.name, "label": self.label, "configured": self.configured,
                "howToConfigure": "" if self.configured else self.how_to_configure}


def make_provider(spec: ProviderSpec, client_id: str = "", client_secret: str = "",
                  tenant: str = "common", base_url: str = "", api_url: str = "") -> Provider:
    """A Provider from a spec plus the box's settings for it."""
    tenant = tenant or "common"

    def resolve(url: str | None) -> str | None:
        if url is None:
            return None
        url = url.replace("{tenant}", tenant)
        return _rebase(url, base_url) if base_url else url

    user_api = spec.user_api_url
    if user_api and api_url:
        user_api = api_url.rstrip("/")
    return Provider(
        spec=spec, client_id=client_id.strip(), client_secret=client_secret.strip(),
        tenant=tenant, device_code_url=resolve(spec.device_code_url) or "",
        token_url=resolve(spec.token_url) or "", jwks_url=resolve(spec.jwks_url),
        user_api_url=user_api,
    )


def build_providers(identity_config: Any) -> dict[str, Provider]:
    """Providers for the box's `[identity]` config section (all three, configured or not)."""
    out: dict[str, Provider] = {}
    for name, spec in PROVIDERS.items():
        pc = getattr(identity_config, name)
        out[name] = make_provider(spec, client_id=pc.client_id, client_secret=pc.client_secret,
                                  tenant=pc.tenant if name == "microsoft" else "",
                                  base_url=pc.base_url, api_url=pc.api_url)
        if pc.base_url:
            logger.info("%s sign-in uses %s instead of the real provider", spec.label,
                        pc.base_url)
    return out
