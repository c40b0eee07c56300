"""Verifying who signed in: RS256 ID tokens against cached JWKS, or GitHub's user API.

Only RS256 is accepted (never `none` or an HMAC algorithm that would turn the
public key into a shared secret). Keys are cached per JWKS address; a token
naming an unknown `kid` triggers one refetch, at most once per cooldown, so a
stream of forged tokens cannot make the box hammer the provider.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from appliance.identity.models import IdTokenError, ProviderUnavailable, VerifiedIdentity
from appliance.identity.providers import (
    MICROSOFT_CONSUMERS_TID,
    MICROSOFT_SPECIAL_TENANTS,
    Provider,
)

logger = logging.getLogger(__name__)

LEEWAY_SECONDS = 60.0
JWKS_COOLDOWN_SECONDS = 60.0
JWKS_MAX_AGE_SECONDS = 6 * 3600.0
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")

SessionGetter = Callable[[], Awaitable[aiohttp.ClientSession]]


def _b64url(data: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError) as err:
        raise IdTokenError("the ID token is not well formed") from err


def _b64int(data: str) -> int:
    return int.from_bytes(_b64url(data), "big")


@dataclass
class _KeySet:
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    fetched_at: float = float("-inf")


class JwksCache:
    """RSA signing keys per JWKS address, refetched on an unknown `kid` (with a cooldown)."""

    def __init__(self, get_session: SessionGetter, *, clock: Callable[[], float] = time.monotonic,
                 cooldown: float = JWKS_COOLDOWN_SECONDS,
                 max_age: float = JWKS_MAX_AGE_SECONDS) -> None:
        self._get_session = get_session
        self._clock = clock
        self.cooldown = cooldown
        self.max_age = max_age
        self._sets: dict[str, _KeySet] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetches = 0  # how many times a key set was downloaded (doctor, tests)

    async def key(self, url: str, kid: str) -> rsa.RSAPublicKey:
        """The public key `kid` of the set at `url`; IdTokenError if the provider has none."""
        ks = self._sets.get(url)
        now = self._clock()
        if ks and kid in ks.keys and now - ks.fetched_at < self.max_age:
            return ks.keys[kid]
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:
            ks = self._sets.get(url)
            now = self._clock()
            fresh_enough = ks is not None and now - ks.fetched_at < self.cooldown
            if ks is not None and kid in ks.keys and now - ks.fetched_at < self.max_age:
                return ks.keys[kid]
            if not fresh_enough:
                try:
                    self._sets[url] = ks = await self._fetch(url)
                except ProviderUnavailable:
                    if ks is None or kid not in ks.keys:
                        raise
                    logger.warning("key set %s could not be refreshed; using cached keys", url)
        if ks is None or kid not in ks.keys:
            raise IdTokenError("the ID token is signed with a key the provider does not publish")
        return ks.keys[kid]

    async def _fetch(self, url: str) -> _KeySet:
        session = await self._get_session()
        try:
            async with session.get(url, headers={"Accept": "application/json"}) as resp:
                if resp.status != 200:
                    raise ProviderUnavailable(f"key set answered HTTP {resp.status}")
                doc = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise ProviderUnavailable(f"key set could not be fetched: {err}") from err
        self.fetches += 1
        keys: dict[str, rsa.RSAPublicKey] = {}
        for jwk in doc.get("keys", []) if isinstance(doc, dict) else []:
            if jwk.get("kty") != "RSA" or "kid" not in jwk or jwk.get("use", "sig") != "sig":
                continue
            try:
                pub = rsa.RSAPublicNumbers(_b64int(jwk["e"]), _b64int(jwk["n"])).public_key()
            except (KeyError, ValueError, IdTokenError):
                continue
            keys[str(jwk["kid"])] = pub
        logger.info("fetched %d signing keys from %s", len(keys), url)
        return _KeySet(keys, self._clock())


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signed part, signature) of a compact JWS, without verifying it."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise IdTokenError("the ID token is not well formed")
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
    except (ValueError, UnicodeDecodeError) as err:
        raise IdTokenError("the ID token is not well formed") from err
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise IdTokenError("the ID token is not well formed")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), _b64url(parts[2])


def _check_issuer(provider: Provider, claims: dict[str, Any]) -> None:
    iss = claims.get("iss")
    if provider.name == "microsoft":
        tid = str(claims.get("tid", ""))
        if not _GUID.match(tid):
            raise IdTokenError("the ID token names no valid Microsoft tenant")
        tenant = provider.tenant.lower()
        if tenant == "consumers" and tid != MICROSOFT_CONSUMERS_TID:
            raise IdTokenError("the ID token is from a work account; this box takes personal ones")
        pinned = tenant not in MICROSOFT_SPECIAL_TENANTS and _GUID.match(tenant)
        if pinned and tid.lower() != tenant:
            raise IdTokenError("the ID token is from another Microsoft tenant")
        allowed = {i.replace("{tid}", tid).replace("{tenant}", tid) for i in provider.spec.issuers}
    else:
        allowed = set(provider.spec.issuers)
    if iss not in allowed:
        raise IdTokenError("the ID token was issued by someone else")


def _check_times(claims: dict[str, Any], now: float, leeway: float) -> None:
    def num(name: str) -> float | None:
        value = claims.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise IdTokenError(f"the ID token's {name} is not a time")
        return float(value)

    exp, nbf, iat = num("exp"), num("nbf"), num("iat")
    if exp is None:
        raise IdTokenError("the ID token has no expiry")
    if now > exp + leeway:
        raise IdTokenError("the ID token has expired; check the box's clock and try again")
    if nbf is not None and now + leeway < nbf:
        raise IdTokenError("the ID token is not valid yet; check the box's clock")
    if iat is not None and now + leeway < iat:
        raise IdTokenError("the ID token was issued in the future; check the box's clock")


async def verify_id_token(token: str, provider: Provider, jwks: JwksCache, *,
                          now: float | None = None, leeway: float = LEEWAY_SECONDS
                          ) -> dict[str, Any]:
    """The claims of `token` once signature, alg, iss, aud and times check out."""
    header, claims, signed, signature = decode_unverified(token)
    if header.get("alg") != "RS256":
        raise IdTokenError("the ID token is not signed with RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or not provider.jwks_url:
        raise IdTokenError("the ID token names no signing key")
    key = await jwks.key(provider.jwks_url, kid)
    try:
        key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as err:
        raise IdTokenError("the ID token's signature is not the provider's") from err
    _check_issuer(provider, claims)
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if not provider.client_id or provider.client_id not in auds:
        raise IdTokenError("the ID token was issued to another application")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != provider.client_id:
        raise IdTokenError("the ID token was issued to another application")
    _check_times(claims, time.time() if now is None else now, leeway)
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IdTokenError("the ID token names no subject")
    return claims


def identity_from_claims(provider: Provider, claims: dict[str, Any]) -> VerifiedIdentity:
    """The identity an already verified ID token vouches for (keyed on `sub`)."""
    email = claims.get("email") or ""
    if provider.name == "google" and claims.get("email_verified") is False:
        email = ""
    if not email and provider.name == "microsoft":
        email = claims.get("preferred_username") or ""
    name = claims.get("name") or ""
    return VerifiedIdentity(provider.name, str(claims["sub"]), str(email), str(name))


async def github_identity(session: aiohttp.ClientSession, provider: Provider,
                          access_token: str) -> VerifiedIdentity:
    """Who owns `access_token`: numeric GitHub id as subject, primary verified email."""
    base = (provider.user_api_url or "").rstrip("/")
    headers = {"Accept": "application/vnd.github+json", "Authorization": f"Bearer {access_token}",
               "X-GitHub-Api-Version": "2022-11-28"}

    async def get(path: str) -> Any:
        try:
            async with session.get(base + path, headers=headers) as resp:
                if resp.status != 200:
                    raise ProviderUnavailable(f"GitHub {path} answered HTTP {resp.status}")
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise ProviderUnavailable(f"GitHub {path} could not be read: {err}") from err

    user = await get("/user")
    if not isinstance(user, dict) or isinstance(user.get("id"), bool) or not isinstance(
            user.get("id"), int):
        raise IdTokenError("GitHub did not say who signed in")
    email = ""
    try:
        emails = await get("/user/emails")
    except ProviderUnavailable:
        emails = []  # without user:email the list is refused; the account still works
    for item in emails if isinstance(emails, list) else []:
        if isinstance(item, dict) and item.get("primary") and item.get("verified"):
            email = str(item.get("email") or "")
            break
    name = user.get("name") or user.get("login") or ""
    return VerifiedIdentity("github", str(user["id"]), email, str(name))
