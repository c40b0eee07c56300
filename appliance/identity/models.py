"""Value types and errors shared by the identity modules.

Every error carries `status` and `code`, the HTTP answer the web layer gives
for it (`ApiError(err.status, err.code, str(err))`); `str(err)` is one line
for people saying what happened and what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VerifiedIdentity:
    """A sign-in identity whose subject the provider vouched for (ID token or API)."""

    provider: str  # google | microsoft | github
    subject: str  # the provider's stable subject: accounts are keyed on it, never on email
    email: str = ""
    display_name: str = ""


class IdentityError(Exception):
    """Base of identity errors."""

    status = 400
    code = "identity_error"


# -- sign-in flows -----------------------------------------------------------

class FlowError(IdentityError):
    """A sign-in flow cannot do what was asked."""

    code = "signin_error"


class UnknownProvider(FlowError):
    """No sign-in provider has this name."""

    status, code = 404, "unknown_provider"


class ProviderNotConfigured(FlowError):
    """The provider has no client id on this box (the message says how to configure it)."""

    status, code = 409, "provider_not_configured"


class TooManyFlows(FlowError):
    """Too many sign-ins are waiting (in this browser, or on the box)."""

    status, code = 429, "too_many_signins"


class FlowStartError(FlowError):
    """The provider could not be reached or refused to start a sign-in."""

    status, code = 502, "provider_error"


class FlowNotFound(FlowError):
    """No such flow for this browser (unknown, cancelled, or someone else's)."""

    status, code = 404, "signin_not_found"


class FlowNotApproved(FlowError):
    """The flow has no approved identity to hand out (yet, or any more)."""

    status, code = 409, "signin_not_approved"


# -- verifying who signed in -------------------------------------------------

class IdTokenError(IdentityError):
    """The provider's answer could not be verified (forged, expired, wrong audience, ...)."""

    status, code = 401, "invalid_id_token"


class ProviderUnavailable(IdentityError):
    """The provider (or its key set or API) could not be reached or answered badly."""

    status, code = 502, "provider_unavailable"


# -- accounts ----------------------------------------------------------------

class AccountError(IdentityError):
    """An account change was refused."""

    code = "account_error"


class IdentityConflict(AccountError):
    """The sign-in identity already belongs to another account."""

    status, code = 409, "identity_conflict"


class ProviderAlreadyLinked(AccountError):
    """The account already has a sign-in with this provider."""

    status, code = 409, "provider_already_linked"


class LastIdentity(AccountError):
    """Removing this identity would leave the account with no way to sign in."""

    status, code = 409, "last_identity"


class LastOwner(AccountError):
    """The box must keep at least one owner."""

    status, code = 409, "last_owner"


class UserNotFound(AccountError):
    """No account has this id."""

    status, code = 404, "user_not_found"


class NotAllowed(AccountError):
    """The person asking may not make this change."""

    status, code = 403, "not_allowed"
