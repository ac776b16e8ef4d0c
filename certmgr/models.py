"""Request and response bodies of the certificate-manager HTTP API (pydantic models)."""

import datetime
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from certmgr import policy, signing
from certmgr.store import AdminKey, StoredCertificate

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class ErrorBody(BaseModel):
    """Every 4xx and 5xx response of the certificate-manager API."""

    error: str = Field(description="machine-readable reason, for example not_a_ca or expired")
    message: str = Field(description="what failed and what to do next")
    details: Optional[list[str]] = Field(
        default=None, description="one line per invalid field of a malformed request"
    )


class TokenErrorBody(BaseModel):
    """An error of the emulated IAM token endpoint, in the field names IAM clients read."""

    errorCode: str
    errorMessage: str


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = Field(description="always Bearer")
    expires_in: int = Field(description="lifetime in seconds")
    expiration: int = Field(description="expiry as Unix time in seconds")


class AdminKeyRequest(BaseModel):
    """The body of ``adminkey set`` and ``adminkey update``: the new public key."""

    model_config = ConfigDict(extra="forbid")

    key_id: str = Field(
        pattern=UUID_PATTERN,
        description="UUID of the key pair; grep11-certmgr names the key files after it",
    )
    public_key: str = Field(
        min_length=1,
        max_length=signing.MAX_PUBLIC_KEY_CHARS,
        description="PEM SubjectPublicKeyInfo of an EC key on P-256, P-384 or P-521",
    )


class AdminKeyResponse(BaseModel):
    admin: str
    key_id: str
    public_key: str
    algorithm: str = Field(description="for example ECDSA P-521")
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @classmethod
    def from_store(cls, key: AdminKey, algorithm: str) -> "AdminKeyResponse":
        return cls(
            admin=key.admin,
            key_id=key.key_id,
            public_key=key.public_key_pem,
            algorithm=algorithm,
            created_at=_utc(key.created_at),
            updated_at=_utc(key.updated_at),
        )


class AdminKeyDeleteResponse(BaseModel):
    admin: str
    key_id: str
    certificates_kept: int = Field(
        description="the administrator's CA certificates, which stay in the trust store"
    )


class CertificateRequest(BaseModel):
    """The body of ``cert set``."""

    model_config = ConfigDict(extra="forbid")

    pem: str = Field(
        min_length=1,
        max_length=policy.MAX_PEM_CHARS,
        description="exactly one PEM CA certificate (basicConstraints CA:TRUE, currently valid)",
    )


class CertificateResponse(BaseModel):
    cert_id: str
    pem: str
    subject: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    fingerprint_sha256: str
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @classmethod
    def from_store(cls, row: StoredCertificate) -> "CertificateResponse":
        return cls(
            cert_id=row.cert_id,
            pem=row.pem,
            subject=row.subject,
            not_before=_utc(row.not_before),
            not_after=_utc(row.not_after),
            fingerprint_sha256=row.fingerprint_sha256,
            created_at=_utc(row.created_at),
            updated_at=_utc(row.updated_at),
        )


class CertificateSetResponse(CertificateResponse):
    created: bool = Field(description="true for a new ID, false when it replaced a certificate")


class CertificateListResponse(BaseModel):
    admin: str
    certificates: list[CertificateResponse]


def _utc(timestamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
