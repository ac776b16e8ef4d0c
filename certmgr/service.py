"""The eight certificate-manager operations, their signature checks and their audit rows.

This layer does not depend on HTTP. The caller is an administrator name that the HTTP layer
authenticated, and every failure is a ``CertMgrError`` carrying the HTTP status, a short code and
a message for the user.

Decisions the operations implement:

- An administrator sees and changes only its own admin key and certificates. Another
  administrator's certificate ID is simply not found.
- ``adminkey set`` fails with 409 while a key is registered; rotating goes through the signed
  ``adminkey update``.
- ``adminkey delete`` keeps the administrator's certificates, and they stay in the trust store.
  Reads still work, and after a new ``adminkey set`` the administrator can delete them again.
- A signed request consumes its nonce once the signature verifies, even when the operation then
  fails, so a rejected request cannot succeed later by replay.

Audit rows use the HPCS Activity Tracker event names, one per operation, with outcome
``success`` or ``failure``, the HTTP status as reason code, and ``critical`` severity for the
state-changing operations (``normal`` for reads).
"""

import contextlib
import datetime
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import Callable, Optional

from certmgr import policy, signing
from certmgr.store import (
    AdminKey,
    CertificateStore,
    ConflictError,
    LimitError,
    NotFoundError,
    ReplayError,
    StoreBusyError,
    StoredCertificate,
    StoreError,
)

logger = logging.getLogger(__name__)

TARGET_ADMIN_KEY = "mtlscert-admin-key"
TARGET_CERT = "mtlscert-cert"


@dataclass(frozen=True)
class AuditedOperation:
    """The audit identity of one operation."""

    action: str
    target: str
    severity: str


ADMIN_KEY_CREATE = AuditedOperation("hs-crypto.mtlscert-admin-key.create", TARGET_ADMIN_KEY,
                                    "critical")
ADMIN_KEY_READ = AuditedOperation("hs-crypto.mtlscert-admin-key.read", TARGET_ADMIN_KEY, "normal")
ADMIN_KEY_UPDATE = AuditedOperation("hs-crypto.mtlscert-admin-key.update", TARGET_ADMIN_KEY,
                                    "critical")
ADMIN_KEY_DELETE = AuditedOperation("hs-crypto.mtlscert-admin-key.delete", TARGET_ADMIN_KEY,
                                    "critical")
CERT_SET = AuditedOperation("hs-crypto.mtlscert-cert.set", TARGET_CERT, "critical")
CERT_LIST = AuditedOperation("hs-crypto.mtlscert-cert.list", TARGET_CERT, "normal")
CERT_READ = AuditedOperation("hs-crypto.mtlscert-cert.read", TARGET_CERT, "normal")
CERT_DELETE = AuditedOperation("hs-crypto.mtlscert-cert.delete", TARGET_CERT, "critical")


class CertMgrError(Exception):
    """A rejected operation: HTTP ``status``, machine-readable ``code`` and a user message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request that its admin-key signature covers or carries."""

    method: str
    path: str
    body: bytes
    timestamp: Optional[str]
    nonce: Optional[str]
    signature: Optional[str]


class CertificateManager:
    """The certificate-manager operations over one ``CertificateStore``."""

    def __init__(self, store: CertificateStore, clock: Callable[[], float] = time.time):
        self.store = store
        self._clock = clock

    # --- admin keys

    def set_admin_key(self, admin: str, key_id: str, public_key_pem: str) -> AdminKey:
        def operation():
            normalised = _checked_public_key(public_key_pem)
            existing = self.store.admin_key(admin)
            if existing is not None:
                raise CertMgrError(
                    409,
                    "admin_key_exists",
                    f"administrator {admin} already has admin key {existing.key_id}; rotate it "
                    "with 'adminkey update --admin-priv-key <current key>' or remove it with "
                    "'adminkey delete'",
                )
            return self.store.create_admin_key(admin, key_id, normalised, policy.MAX_ADMINS)

        return self._run(ADMIN_KEY_CREATE, admin, {"accountId": admin, "keyId": key_id},
                         operation)

    def get_admin_key(self, admin: str) -> AdminKey:
        def operation():
            key = self.store.admin_key(admin)
            if key is None:
                raise _no_admin_key(admin, 404, "admin_key_not_found")
            return key

        return self._run(ADMIN_KEY_READ, admin, {"accountId": admin}, operation)

    def update_admin_key(
        self, admin: str, signed: SignedRequest, key_id: str, public_key_pem: str
    ) -> AdminKey:
        def operation():
            normalised = _checked_public_key(public_key_pem)
            return self.store.replace_admin_key(admin, key_id, normalised)

        return self._run(ADMIN_KEY_UPDATE, admin, {"accountId": admin, "keyId": key_id},
                         operation, signed)

    def delete_admin_key(self, admin: str, signed: SignedRequest) -> tuple[AdminKey, int]:
        """Delete the admin key; return it and the number of certificates that stay trusted."""

        def operation():
            deleted = self.store.delete_admin_key(admin)
            return deleted, self.store.certificate_count(admin)

        return self._run(ADMIN_KEY_DELETE, admin, {"accountId": admin}, operation, signed)

    # --- certificates

    def set_certificate(
        self, admin: str, signed: SignedRequest, cert_id: str, pem: str
    ) -> tuple[StoredCertificate, bool]:
        """Create or replace a CA certificate; return it and whether it was created."""

        def operation():
            _check_cert_id(cert_id)
            try:
                checked = policy.check_ca_certificate(
                    pem, datetime.datetime.fromtimestamp(self._clock(), datetime.timezone.utc)
                )
            except policy.CertificateRejected as error:
                raise CertMgrError(400, error.code, error.message) from None
            row = StoredCertificate(
                admin=admin,
                cert_id=cert_id,
                pem=checked.pem,
                subject=checked.subject,
                not_before=checked.not_before.timestamp(),
                not_after=checked.not_after.timestamp(),
                fingerprint_sha256=checked.fingerprint_sha256,
                created_at=0.0,
                updated_at=0.0,
            )
            return self.store.put_certificate(
                row, policy.MAX_CERTIFICATES_PER_ADMIN, policy.MAX_CERTIFICATES_TOTAL
            )

        return self._run(CERT_SET, admin, {"certificateId": cert_id}, operation, signed)

    def get_certificate(self, admin: str, cert_id: str) -> StoredCertificate:
        def operation():
            _check_cert_id(cert_id)
            found = self.store.certificate(admin, cert_id)
            if found is None:
                raise _certificate_not_found(admin, cert_id)
            return found

        return self._run(CERT_READ, admin, {"certificateId": cert_id}, operation)

    def list_certificates(self, admin: str) -> list[StoredCertificate]:
        return self._run(CERT_LIST, admin, {}, lambda: self.store.certificates(admin))

    def delete_certificate(
        self, admin: str, signed: SignedRequest, cert_id: str
    ) -> StoredCertificate:
        def operation():
            _check_cert_id(cert_id)
            return self.store.delete_certificate(admin, cert_id)

        return self._run(CERT_DELETE, admin, {"certificateId": cert_id}, operation, signed)

    # --- running and auditing

    def _run(self, event: AuditedOperation, admin: str, request_data: dict, operation,
             signed: Optional[SignedRequest] = None):
        """Run ``operation`` as one transaction with its audit row; audit a failure apart."""
        try:
            with _translated_store_errors(admin, request_data):
                if signed is None:
                    with self.store.transaction():
                        result = operation()
                        self._audit(event, admin, request_data, 200)
                    return result
                return self._run_signed(event, admin, request_data, operation, signed)
        except CertMgrError as error:
            if error.status != 503:
                self._audit_failure(event, admin, request_data, error)
            raise

    def _run_signed(self, event, admin, request_data, operation, signed: SignedRequest):
        failure = None
        with self.store.transaction():
            self._verify_signature(admin, signed)
            try:
                with self.store.savepoint(), _translated_store_errors(admin, request_data):
                    result = operation()
                    self._audit(event, admin, request_data, 200)
            except CertMgrError as error:
                # Commit the consumed nonce, not the change.
                failure = error
        if failure is not None:
            raise failure
        return result

    def _verify_signature(self, admin: str, signed: SignedRequest) -> None:
        key = self.store.admin_key(admin)
        if key is None:
            raise _no_admin_key(admin, 403, "admin_key_not_set")
        try:
            timestamp = signing.verify_request(
                key.public_key_pem,
                signed.method,
                signed.path,
                signed.body,
                signed.timestamp,
                signed.nonce,
                signed.signature,
                now=self._clock(),
            )
        except signing.SignatureRejected as error:
            raise CertMgrError(401, error.code, error.message) from None
        try:
            self.store.consume_nonce(
                admin, signed.nonce, timestamp + signing.TIMESTAMP_WINDOW_SECONDS
            )
        except ReplayError:
            raise CertMgrError(
                401,
                "replayed_nonce",
                f"nonce {signed.nonce} was already used: this request is a replay. Sign every "
                "request with a fresh nonce",
            ) from None

    def _audit(self, event: AuditedOperation, admin: str, request_data: dict, status: int):
        self.store.record_audit(
            event.action,
            event.target,
            admin,
            "success" if status < 400 else "failure",
            status,
            event.severity,
            request_data,
        )

    def _audit_failure(self, event, admin, request_data, error: CertMgrError) -> None:
        try:
            self._audit(event, admin, request_data | {"error": error.code}, error.status)
        except (StoreError, sqlite3.Error) as audit_error:
            logger.error("could not record the audit row of %s by %s: %s", event.action, admin,
                         audit_error)


@contextlib.contextmanager
def _translated_store_errors(admin: str, request_data: dict):
    try:
        yield
    except NotFoundError as error:
        if "certificateId" in request_data:
            raise _certificate_not_found(admin, request_data["certificateId"]) from None
        raise _no_admin_key(admin, 404, "admin_key_not_found") from error
    except ConflictError as error:
        raise CertMgrError(409, "conflict", str(error)) from None
    except LimitError as error:
        raise CertMgrError(409, "limit_reached", str(error)) from None
    except StoreBusyError as error:
        logger.warning("store busy: %s", error)
        raise CertMgrError(503, "store_busy", f"{error}; retry the request") from None
    except sqlite3.Error as error:
        logger.error("store failure: %s", error)
        raise CertMgrError(
            503, "store_unavailable", f"the certificate store failed: {error}"
        ) from None


def _checked_public_key(pem: str) -> str:
    try:
        return signing.check_public_key(pem)
    except signing.AdminKeyRejected as error:
        raise CertMgrError(400, "invalid_public_key", str(error)) from None


def _check_cert_id(cert_id: str) -> None:
    if not policy.is_cert_id(cert_id):
        raise CertMgrError(
            400,
            "invalid_cert_id",
            "certificate IDs are 1 to 128 characters from A-Z a-z 0-9 . _ ~ -, starting with a "
            "letter or digit",
        )


def _no_admin_key(admin: str, status: int, code: str) -> CertMgrError:
    return CertMgrError(
        status,
        code,
        f"administrator {admin} has no admin key; register one with 'adminkey set'",
    )


def _certificate_not_found(admin: str, cert_id: str) -> CertMgrError:
    return CertMgrError(
        404,
        "certificate_not_found",
        f"administrator {admin} has no certificate with ID {cert_id}; 'cert list' shows yours",
    )
