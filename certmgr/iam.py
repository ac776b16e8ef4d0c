"""The emulated IAM: API keys with service roles, and the bearer tokens issued for them.

API-keys file (``--iam PATH``): a JSON list of objects, one per API key::

    [
      {"apikey": "reader-key-1", "name": "alice", "roles": ["Reader"]},
      {"apikey": "admin-key-1", "name": "bob", "roles": ["Manager", "Certificate Manager"]}
    ]

- ``apikey``: the secret a client exchanges for a token, 1 to 256 printable ASCII characters
  without spaces, unique in the file;
- ``name``: the identity the token stands for, and the certificate administrator's name, 1 to 128
  characters from ``A-Z a-z 0-9 . _ @ + -``; several keys may share a name;
- ``roles``: a list of ``Reader``, ``Writer``, ``Manager`` and ``Certificate Manager``. Reader,
  Writer and Manager gate the GREP11 calls as on HPCS; only ``Certificate Manager`` opens the
  certificate-manager API.

Tokens are JWTs (RFC 7519) signed with HMAC-SHA-256 (JWS ``HS256``) under the signing key the
caller passes in. The serve command keeps that key in the state folder, so tokens survive a
restart of the same state folder. The claims are ``iss``
(``grep11-emulator``), ``sub`` (the name), ``roles``, ``iat``, ``exp`` and ``jti``. A token is
valid until ``exp``; there is no revocation.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Callable

from certmgr.policy import ADMIN_NAME_PATTERN

ROLE_READER = "Reader"
ROLE_WRITER = "Writer"
ROLE_MANAGER = "Manager"
ROLE_CERTIFICATE_MANAGER = "Certificate Manager"
ROLES = (ROLE_READER, ROLE_WRITER, ROLE_MANAGER, ROLE_CERTIFICATE_MANAGER)
GRANT_TYPE_APIKEY = "urn:ibm:params:oauth:grant-type:apikey"
ISSUER = "grep11-emulator"
MIN_SIGNING_KEY_BYTES = 32
APIKEY_PATTERN = r"^[\x21-\x7e]{1,256}$"
# A token longer than this cannot have come from issue().
MAX_TOKEN_CHARS = 4096

_HEADER = {"alg": "HS256", "typ": "JWT"}


class IAMError(Exception):
    """An IAM failure: an unknown API key, a bad token, or an unusable API-keys file.

    ``reason`` is ``"unknown_apikey"``, ``"expired"``, ``"invalid"`` or ``"config"``.
    """

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


@dataclass(frozen=True)
class APIKey:
    """One entry of the API-keys file."""

    apikey: str
    name: str
    roles: frozenset


@dataclass(frozen=True)
class Identity:
    """The caller a verified token stands for; ``expires_at`` is Unix time in seconds."""

    name: str
    roles: frozenset
    expires_at: int


class IAMConfig:
    """The API keys that the emulated IAM accepts."""

    def __init__(self, keys: list[APIKey]):
        self.keys = tuple(keys)
        self._by_apikey = {key.apikey: key for key in self.keys}
        if len(self._by_apikey) != len(self.keys):
            raise IAMError("config", "an API key appears more than once in the API-keys file")

    @classmethod
    def load(cls, path: str) -> "IAMConfig":
        """Read the API-keys file; raise ``IAMError("config")`` naming the first problem."""
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except OSError as error:
            raise IAMError("config", f"cannot read the API-keys file {path}: {error}") from error
        except (ValueError, UnicodeError) as error:
            raise IAMError("config", f"the API-keys file {path} is not JSON: {error}") from error
        return cls.from_document(document, source=path)

    @classmethod
    def from_document(cls, document, source: str = "the API-keys document") -> "IAMConfig":
        if not isinstance(document, list):
            raise IAMError("config", f"{source}: expected a JSON list of API-key objects")
        keys = [_parse_entry(entry, f"{source}: entry {index}") for index, entry in
                enumerate(document)]
        return cls(keys)

    def lookup(self, apikey: str) -> APIKey:
        """Return the entry of ``apikey``; ``IAMError("unknown_apikey")`` when absent."""
        entry = self._by_apikey.get(apikey)
        if entry is None:
            raise IAMError("unknown_apikey", "the API key is not in the emulator's API-keys file")
        return entry


def _parse_entry(entry, where: str) -> APIKey:
    if not isinstance(entry, dict):
        raise IAMError("config", f"{where}: expected an object with apikey, name and roles")
    unknown = set(entry) - {"apikey", "name", "roles"}
    if unknown:
        raise IAMError("config", f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    apikey, name, roles = entry.get("apikey"), entry.get("name"), entry.get("roles")
    if not isinstance(apikey, str) or re.fullmatch(APIKEY_PATTERN, apikey) is None:
        raise IAMError(
            "config", f"{where}: apikey must be 1 to 256 printable ASCII characters, no spaces"
        )
    if not isinstance(name, str) or re.fullmatch(ADMIN_NAME_PATTERN, name) is None:
        raise IAMError(
            "config", f"{where}: name must be 1 to 128 characters from A-Z a-z 0-9 . _ @ + -"
        )
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise IAMError("config", f"{where}: roles must be a list of role names")
    unknown_roles = [role for role in roles if role not in ROLES]
    if unknown_roles:
        raise IAMError(
            "config",
            f"{where}: unknown role(s) {', '.join(unknown_roles)}; roles are "
            f"{', '.join(ROLES)}",
        )
    return APIKey(apikey=apikey, name=name, roles=frozenset(roles))


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if re.fullmatch(r"[A-Za-z0-9_-]*", text) is None:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenService:
    """Issues and verifies the emulated IAM access tokens.

    ``clock`` returns Unix time in seconds; tests pass their own to move time forward.
    """

    def __init__(
        self,
        config: IAMConfig,
        signing_key: bytes,
        lifetime_seconds: int = 3600,
        clock: Callable[[], float] = time.time,
    ):
        if len(signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(
                f"the token signing key has {len(signing_key)} bytes; at least "
                f"{MIN_SIGNING_KEY_BYTES} are required"
            )
        if lifetime_seconds <= 0:
            raise ValueError(f"lifetime_seconds must be positive, not {lifetime_seconds}")
        self.config = config
        self._signing_key = bytes(signing_key)
        self.lifetime_seconds = int(lifetime_seconds)
        self._clock = clock

    def issue(self, apikey: str) -> dict:
        """Return the JSON body of a token response for ``apikey``.

        Raises ``IAMError("unknown_apikey")`` when the key is not configured.
        """
        entry = self.config.lookup(apikey)
        now = int(self._clock())
        expiration = now + self.lifetime_seconds
        claims = {
            "iss": ISSUER,
            "sub": entry.name,
            "roles": sorted(entry.roles),
            "iat": now,
            "exp": expiration,
            "jti": secrets.token_hex(16),
        }
        return {
            "access_token": self._sign(claims),
            # NOTE: the refresh token is random and no grant accepts it; both GREP11 clients
            # fetch a new token with the API key instead of refreshing.
            "refresh_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": self.lifetime_seconds,
            "expiration": expiration,
        }

    def verify(self, token: str) -> Identity:
        """Return the identity of a valid token.

        Raises ``IAMError("invalid")`` for a malformed, forged or foreign token and
        ``IAMError("expired")`` once its ``exp`` has passed.
        """
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            raise IAMError("invalid", "the bearer token is malformed")
        parts = token.split(".")
        if len(parts) != 3:
            raise IAMError("invalid", "the bearer token is not a JWT (three dot-separated parts)")
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            signature = _b64url_decode(parts[2])
            claims = json.loads(_b64url_decode(parts[1]))
        except (ValueError, binascii.Error, UnicodeError):
            raise IAMError("invalid", "the bearer token is not a well-formed JWT") from None
        if header != _HEADER:
            raise IAMError("invalid", "the bearer token is not an HS256 JWT of this emulator")
        expected = hmac.new(self._signing_key, signing_input, hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            raise IAMError(
                "invalid", "the bearer token signature is invalid (was it issued by another "
                "emulator or state folder?)"
            )
        identity = _identity_from_claims(claims)
        if self._clock() >= identity.expires_at:
            raise IAMError("expired", "the bearer token has expired; request a new one")
        return identity

    def _sign(self, claims: dict) -> str:
        header = _b64url_encode(json.dumps(_HEADER, separators=(",", ":")).encode())
        payload = _b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = hmac.new(self._signing_key, signing_input, hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url_encode(signature)}"


def _identity_from_claims(claims) -> Identity:
    if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
        raise IAMError("invalid", "the bearer token was not issued by this emulator")
    name, roles, expires_at = claims.get("sub"), claims.get("roles"), claims.get("exp")
    if (
        not isinstance(name, str)
        or not isinstance(roles, list)
        or not all(isinstance(role, str) for role in roles)
        or not isinstance(expires_at, int)
        or isinstance(expires_at, bool)
    ):
        raise IAMError("invalid", "the bearer token lacks the sub, roles or exp claim")
    return Identity(name=name, roles=frozenset(roles), expires_at=expires_at)
