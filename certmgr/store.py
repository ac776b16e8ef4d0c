"""The certificate-manager store: admin keys, CA certificates, nonces and the audit log in SQLite.

One SQLite file contains everything. It runs in WAL mode with ``synchronous=FULL``, so a committed
change survives a killed process or a power cut, and a change that was not committed leaves no
trace. Every change is one ``BEGIN IMMEDIATE`` transaction. Several processes and threads may open
the same file: writers wait up to ``BUSY_TIMEOUT_SECONDS`` for each other and then fail with
``StoreBusyError``.

The schema version is kept in ``PRAGMA user_version``. Opening a file of a newer version raises
``StoreSchemaError`` instead of guessing, and older versions are migrated on open.

Certificates belong to the administrator that uploaded them, and their IDs are unique per
administrator. The trust store of the GREP11 side is the union of every administrator's
certificates; ``trust_version`` in the ``meta`` table increases by one with every certificate
change, so a reader can tell cheaply whether it must reload.
"""

import contextlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import astuple, dataclass, replace
from typing import Iterator, Optional

SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 10.0
# Audit rows beyond this count are dropped, oldest first.
AUDIT_MAX_ROWS = 100_000

_SCHEMA_V1 = """
CREATE TABLE admin_keys (
    admin TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE certificates (
    admin TEXT NOT NULL,
    cert_id TEXT NOT NULL,
    pem TEXT NOT NULL,
    subject TEXT NOT NULL,
    not_before REAL NOT NULL,
    not_after REAL NOT NULL,
    fingerprint_sha256 TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (admin, cert_id)
);
CREATE TABLE nonces (
    nonce TEXT PRIMARY KEY,
    admin TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX nonces_expiry ON nonces (expires_at);
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    initiator TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason_code INTEGER NOT NULL,
    severity TEXT NOT NULL,
    request_data TEXT NOT NULL
);
CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO meta (name, value) VALUES ('trust_version', 0);
"""

# MIGRATIONS[n] brings a file from schema version n to n + 1.
MIGRATIONS = {0: _SCHEMA_V1}


class StoreError(Exception):
    """Base class of the store's errors."""


class StoreSchemaError(StoreError):
    """The file is not a certificate-manager store this version can use."""


class StoreBusyError(StoreError):
    """Another writer held the database for longer than the busy timeout."""


class NotFoundError(StoreError):
    """The admin key or certificate does not exist."""


class ConflictError(StoreError):
    """The change contradicts the stored state, for example a second admin key."""


class LimitError(StoreError):
    """The change would exceed a count limit of the store."""


class ReplayError(StoreError):
    """The nonce was already used within its validity window."""


@dataclass(frozen=True)
class TrustSnapshot:
    """The trust store at one ``version``: the PEM of every administrator's CA certificates.

    Equal certificates uploaded by two administrators appear once. The order is stable (by
    administrator, then certificate ID) so that equal snapshots compare equal.
    """

    version: int
    certificates: tuple[bytes, ...]


@dataclass(frozen=True)
class AdminKey:
    """An administrator's registered admin signature public key (PEM SubjectPublicKeyInfo)."""

    admin: str
    key_id: str
    public_key_pem: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class StoredCertificate:
    """One CA certificate of one administrator, with the fields shown by ``cert get``."""

    admin: str
    cert_id: str
    pem: str
    subject: str
    not_before: float
    not_after: float
    fingerprint_sha256: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class AuditEvent:
    """One audit log row, named like the HPCS Activity Tracker event of the operation."""

    id: int
    time: float
    action: str
    target: str
    initiator: str
    outcome: str
    reason_code: int
    severity: str
    request_data: dict


class CertificateStore:
    """The SQLite store of one emulated HPCS instance.

    Methods are safe to call from several threads. Changes and the reads of the operations go
    through one connection under a lock; wrap several calls in ``transaction()`` to make them one
    atomic change. ``change_version()`` and ``trusted_ca_certificates()`` use a second
    connection, so GREP11 calls never wait for a write transaction. They see committed data
    only.
    """

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._read_lock = threading.Lock()
        self._trust_version_cache: Optional[int] = None
        self._data_version: Optional[int] = None
        self._connection = self._connect()
        self._reader = None
        try:
            self._configure()
            self._migrate()
            self._reader = self._connect()
        except BaseException:
            self.close()
            raise

    # --- connection life cycle

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the module issues no implicit BEGIN, transactions are explicit.
        return sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )

    def _configure(self) -> None:
        try:
            mode = self._connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.DatabaseError as error:
            raise StoreSchemaError(f"{self.path} is not an SQLite database: {error}") from error
        if mode.lower() != "wal":
            raise StoreSchemaError(f"{self.path}: cannot switch to WAL mode (mode is {mode})")
        self._connection.execute("PRAGMA synchronous=FULL")
        self._connection.execute("PRAGMA foreign_keys=ON")

    def _migrate(self) -> None:
        with self.transaction():
            version = self._connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreSchemaError(
                    f"{self.path} has schema version {version}, but this grep11-emulator "
                    f"reads versions up to {SCHEMA_VERSION}; upgrade grep11-emulator"
                )
            if version == 0 and self._has_foreign_tables():
                raise StoreSchemaError(
                    f"{self.path} contains tables of another application; choose another file"
                )
            while version < SCHEMA_VERSION:
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self._connection.execute(statement)
                version += 1
                # PRAGMA takes no bound parameters; version is an int from this module.
                self._connection.execute(f"PRAGMA user_version={int(version)}")

    def _has_foreign_tables(self) -> bool:
        row = self._connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        ).fetchone()
        return row[0] > 0

    def close(self) -> None:
        """Close both connections. Later calls raise ``sqlite3.ProgrammingError``."""
        with self._lock, self._read_lock:
            self._connection.close()
            if self._reader is not None:
                self._reader.close()

    def __enter__(self) -> "CertificateStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- transactions

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the enclosed store calls as one write transaction.

        The transaction commits when the block ends and rolls back when it raises. Nested
        ``transaction()`` blocks on the same thread join the outermost one.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._execute_locked("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._connection.execute("ROLLBACK")
                raise
            self._depth = 0
            try:
                self._execute_locked("COMMIT")
            except BaseException:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo the enclosed calls if the block raises, keeping the rest of the transaction."""
        with self.transaction():
            self._connection.execute("SAVEPOINT change")
            try:
                yield
            except BaseException:
                self._connection.execute("ROLLBACK TO change")
                self._connection.execute("RELEASE change")
                raise
            self._connection.execute("RELEASE change")

    def _execute_locked(self, statement: str, parameters=()) -> sqlite3.Cursor:
        try:
            return self._connection.execute(statement, parameters)
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                raise StoreBusyError(
                    f"the store {self.path} stayed locked by another writer for "
                    f"{BUSY_TIMEOUT_SECONDS:g} s"
                ) from error
            raise

    def _query(self, statement: str, parameters=()) -> list:
        with self._lock:
            return self._execute_locked(statement, parameters).fetchall()

    # --- trust store (the GREP11 side)

    def change_version(self) -> int:
        """Return the trust-store version, which increases with every CA certificate change.

        Cheap enough to call on every GREP11 call: while no other connection has committed, the
        cached value is returned after one ``PRAGMA data_version`` query.
        """
        with self._read_lock:
            # data_version changes with every commit of another connection, this store's writer
            # connection included.
            data_version = self._reader.execute("PRAGMA data_version").fetchone()[0]
            if data_version != self._data_version or self._trust_version_cache is None:
                row = self._reader.execute(
                    "SELECT value FROM meta WHERE name = 'trust_version'"
                ).fetchone()
                self._trust_version_cache = row[0]
                self._data_version = data_version
            return self._trust_version_cache

    def trusted_ca_certificates(self) -> TrustSnapshot:
        """Return the union of every administrator's CA certificates and its version."""
        with self._read_lock:
            # One read transaction, so the version matches the certificates.
            self._reader.execute("BEGIN")
            try:
                version = self._reader.execute(
                    "SELECT value FROM meta WHERE name = 'trust_version'"
                ).fetchone()[0]
                rows = self._reader.execute(
                    "SELECT pem FROM certificates ORDER BY admin, cert_id"
                ).fetchall()
            finally:
                self._reader.execute("COMMIT")
        unique = dict.fromkeys(row[0].encode("ascii") for row in rows)
        return TrustSnapshot(version=version, certificates=tuple(unique))

    def _bump_trust_version(self) -> None:
        self._connection.execute("UPDATE meta SET value = value + 1 WHERE name = 'trust_version'")

    # --- admin keys

    def admin_key(self, admin: str) -> Optional[AdminKey]:
        """Return the admin key of ``admin``, or None when none is registered."""
        rows = self._query(
            "SELECT admin, key_id, public_key_pem, created_at, updated_at FROM admin_keys "
            "WHERE admin = ?",
            (admin,),
        )
        return AdminKey(*rows[0]) if rows else None

    def admin_count(self) -> int:
        return self._query("SELECT count(*) FROM admin_keys")[0][0]

    def create_admin_key(
        self, admin: str, key_id: str, public_key_pem: str, max_admins: int
    ) -> AdminKey:
        """Register the first admin key of ``admin``.

        Raises ``ConflictError`` when ``admin`` already has one and ``LimitError`` when
        ``max_admins`` administrators have keys.
        """
        now = time.time()
        with self.transaction():
            if self.admin_key(admin) is not None:
                raise ConflictError(f"administrator {admin} already has an admin key")
            if self.admin_count() >= max_admins:
                raise LimitError(f"the store already contains the maximum of {max_admins} admin keys")
            self._connection.execute(
                "INSERT INTO admin_keys (admin, key_id, public_key_pem, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (admin, key_id, public_key_pem, now, now),
            )
        return AdminKey(admin, key_id, public_key_pem, now, now)

    def replace_admin_key(self, admin: str, key_id: str, public_key_pem: str) -> AdminKey:
        """Replace the admin key of ``admin``; ``NotFoundError`` when it has none."""
        now = time.time()
        with self.transaction():
            current = self.admin_key(admin)
            if current is None:
                raise NotFoundError(f"administrator {admin} has no admin key")
            self._connection.execute(
                "UPDATE admin_keys SET key_id = ?, public_key_pem = ?, updated_at = ? "
                "WHERE admin = ?",
                (key_id, public_key_pem, now, admin),
            )
        return AdminKey(admin, key_id, public_key_pem, current.created_at, now)

    def delete_admin_key(self, admin: str) -> AdminKey:
        """Delete the admin key of ``admin`` and return it. Its certificates stay."""
        with self.transaction():
            current = self.admin_key(admin)
            if current is None:
                raise NotFoundError(f"administrator {admin} has no admin key")
            self._connection.execute("DELETE FROM admin_keys WHERE admin = ?", (admin,))
        return current

    # --- certificates

    def certificate(self, admin: str, cert_id: str) -> Optional[StoredCertificate]:
        rows = self._query(
            f"SELECT {_CERTIFICATE_COLUMNS} FROM certificates WHERE admin = ? AND cert_id = ?",
            (admin, cert_id),
        )
        return StoredCertificate(*rows[0]) if rows else None

    def certificates(self, admin: str) -> list[StoredCertificate]:
        """Return the certificates of ``admin`` ordered by ID."""
        rows = self._query(
            f"SELECT {_CERTIFICATE_COLUMNS} FROM certificates WHERE admin = ? ORDER BY cert_id",
            (admin,),
        )
        return [StoredCertificate(*row) for row in rows]

    def certificate_count(self, admin: Optional[str] = None) -> int:
        """Return the number of certificates of ``admin``, or of everyone when None."""
        if admin is None:
            return self._query("SELECT count(*) FROM certificates")[0][0]
        return self._query("SELECT count(*) FROM certificates WHERE admin = ?", (admin,))[0][0]

    def put_certificate(
        self,
        certificate: StoredCertificate,
        max_per_admin: int,
        max_total: int,
    ) -> tuple[StoredCertificate, bool]:
        """Create or replace ``certificate`` under its administrator and ID.

        Returns the stored row and whether it was created. Raises ``LimitError`` when a new ID
        would exceed ``max_per_admin`` or ``max_total``. The trust version increases.
        """
        now = time.time()
        with self.transaction():
            existing = self.certificate(certificate.admin, certificate.cert_id)
            if existing is None:
                if self.certificate_count(certificate.admin) >= max_per_admin:
                    raise LimitError(
                        f"administrator {certificate.admin} already has the maximum of "
                        f"{max_per_admin} CA certificates"
                    )
                if self.certificate_count() >= max_total:
                    raise LimitError(
                        f"the instance already has the maximum of {max_total} CA certificates"
                    )
            created_at = existing.created_at if existing else now
            stored = replace(certificate, created_at=created_at, updated_at=now)
            # The fields of StoredCertificate are the columns, in the order of
            # _CERTIFICATE_COLUMNS.
            self._connection.execute(
                "INSERT OR REPLACE INTO certificates "
                f"({_CERTIFICATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                astuple(stored),
            )
            self._bump_trust_version()
        return stored, existing is None

    def delete_certificate(self, admin: str, cert_id: str) -> StoredCertificate:
        """Delete one certificate of ``admin`` and return it; ``NotFoundError`` if absent."""
        with self.transaction():
            existing = self.certificate(admin, cert_id)
            if existing is None:
                raise NotFoundError(f"administrator {admin} has no certificate {cert_id}")
            self._connection.execute(
                "DELETE FROM certificates WHERE admin = ? AND cert_id = ?", (admin, cert_id)
            )
            self._bump_trust_version()
        return existing

    # --- nonces

    def consume_nonce(self, admin: str, nonce: str, expires_at: float) -> None:
        """Record ``nonce`` until ``expires_at``; ``ReplayError`` when it is already recorded.

        Expired nonces are dropped first, so the table contains one validity window of requests.
        """
        with self.transaction():
            self._connection.execute("DELETE FROM nonces WHERE expires_at < ?", (time.time(),))
            try:
                self._connection.execute(
                    "INSERT INTO nonces (nonce, admin, expires_at) VALUES (?, ?, ?)",
                    (nonce, admin, expires_at),
                )
            except sqlite3.IntegrityError as error:
                raise ReplayError(f"nonce {nonce} was already used") from error

    def nonce_count(self) -> int:
        return self._query("SELECT count(*) FROM nonces")[0][0]

    # --- audit log

    def record_audit(
        self,
        action: str,
        target: str,
        initiator: str,
        outcome: str,
        reason_code: int,
        severity: str,
        request_data: dict,
    ) -> None:
        """Append one audit row, dropping the oldest rows beyond ``AUDIT_MAX_ROWS``."""
        with self.transaction():
            cursor = self._connection.execute(
                "INSERT INTO audit_events "
                "(time, action, target, initiator, outcome, reason_code, severity, request_data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    action,
                    target,
                    initiator,
                    outcome,
                    reason_code,
                    severity,
                    json.dumps(request_data, sort_keys=True),
                ),
            )
            self._connection.execute(
                "DELETE FROM audit_events WHERE id <= ?", (cursor.lastrowid - AUDIT_MAX_ROWS,)
            )

    def audit_events(self, limit: int = 100) -> list[AuditEvent]:
        """Return the newest ``limit`` audit rows, oldest first."""
        rows = self._query(
            "SELECT id, time, action, target, initiator, outcome, reason_code, severity, "
            "request_data FROM audit_events ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [AuditEvent(*row[:8], json.loads(row[8])) for row in reversed(rows)]

    # --- consistency

    def integrity_problems(self) -> list[str]:
        """Return the problems that ``PRAGMA integrity_check`` and the store's invariants find."""
        problems = [
            row[0] for row in self._query("PRAGMA integrity_check") if row[0] != "ok"
        ]
        version_rows = self._query("SELECT value FROM meta WHERE name = 'trust_version'")
        if len(version_rows) != 1 or version_rows[0][0] < 0:
            problems.append("meta.trust_version is missing or negative")
        for admin, cert_id, pem in self._query("SELECT admin, cert_id, pem FROM certificates"):
            if not pem.startswith("-----BEGIN CERTIFICATE-----"):
                problems.append(f"certificate {admin}/{cert_id} does not hold a PEM certificate")
        for admin, public_key_pem in self._query("SELECT admin, public_key_pem FROM admin_keys"):
            if not public_key_pem.startswith("-----BEGIN PUBLIC KEY-----"):
                problems.append(f"admin key of {admin} does not hold a PEM public key")
        return problems


_CERTIFICATE_COLUMNS = (
    "admin, cert_id, pem, subject, not_before, not_after, fingerprint_sha256, created_at, "
    "updated_at"
)
