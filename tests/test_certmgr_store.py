"""The certificate store on real SQLite files: transactions, WAL, versions, several openers."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from certmgr import store as store_module
from certmgr.store import (
    SCHEMA_VERSION,
    CertificateStore,
    ConflictError,
    LimitError,
    NotFoundError,
    ReplayError,
    StoredCertificate,
    StoreSchemaError,
    TrustSnapshot,
)
from certmgr_support import make_certificate

PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"


def certificate_row(admin: str, cert_id: str, pem: str = None) -> StoredCertificate:
    pem = pem or f"-----BEGIN CERTIFICATE-----\n{admin}/{cert_id}\n-----END CERTIFICATE-----\n"
    return StoredCertificate(admin, cert_id, pem, f"CN={cert_id}", 0.0, 1e10, "00" * 32, 0, 0)


def put(store: CertificateStore, admin: str, cert_id: str, pem: str = None):
    return store.put_certificate(certificate_row(admin, cert_id, pem), 100, 500)


@pytest.fixture
def store_path(tmp_path):
    return str(tmp_path / "certmgr.db")


@pytest.fixture
def store(store_path):
    opened = CertificateStore(store_path)
    yield opened
    opened.close()


def test_new_store_uses_wal_and_schema_version(store, store_path):
    connection = sqlite3.connect(store_path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        connection.close()
    assert store.change_version() == 0
    assert store.trusted_ca_certificates() == TrustSnapshot(version=0, certificates=())


def test_data_survives_reopen(store_path):
    with CertificateStore(store_path) as first:
        first.create_admin_key("alice", "id-1", PUBLIC_KEY, max_admins=10)
        put(first, "alice", "ca1")
    with CertificateStore(store_path) as second:
        assert second.admin_key("alice").key_id == "id-1"
        assert [row.cert_id for row in second.certificates("alice")] == ["ca1"]
        assert second.change_version() == 1


def test_version_counts_certificate_changes_only(store):
    store.create_admin_key("alice", "id-1", PUBLIC_KEY, max_admins=10)
    assert store.change_version() == 0
    put(store, "alice", "ca1")
    assert store.change_version() == 1
    _, created = put(store, "alice", "ca1", "-----BEGIN CERTIFICATE-----\nnew\n")
    assert created is False
    assert store.change_version() == 2
    store.replace_admin_key("alice", "id-2", PUBLIC_KEY)
    store.delete_admin_key("alice")
    assert store.change_version() == 2
    store.delete_certificate("alice", "ca1")
    assert store.change_version() == 3
    assert store.trusted_ca_certificates().version == 3


def test_replace_keeps_creation_time(store):
    first, created = put(store, "alice", "ca1")
    assert created is True
    time.sleep(0.01)
    second, created = put(store, "alice", "ca1")
    assert created is False
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at


def test_trust_store_is_union_without_duplicates(store):
    shared = "-----BEGIN CERTIFICATE-----\nshared\n-----END CERTIFICATE-----\n"
    put(store, "alice", "a", shared)
    put(store, "bob", "b", shared)
    put(store, "bob", "c")
    snapshot = store.trusted_ca_certificates()
    assert snapshot.version == 3
    assert snapshot.certificates.count(shared.encode()) == 1
    assert len(snapshot.certificates) == 2
    assert all(isinstance(pem, bytes) for pem in snapshot.certificates)


def test_cert_ids_are_per_admin(store):
    put(store, "alice", "same")
    put(store, "bob", "same")
    assert store.certificate("alice", "same").pem != store.certificate("bob", "same").pem
    store.delete_certificate("alice", "same")
    assert store.certificate("bob", "same") is not None
    with pytest.raises(NotFoundError):
        store.delete_certificate("alice", "same")


def test_admin_key_conflicts_and_limits(store):
    store.create_admin_key("alice", "id-1", PUBLIC_KEY, max_admins=2)
    with pytest.raises(ConflictError):
        store.create_admin_key("alice", "id-2", PUBLIC_KEY, max_admins=2)
    store.create_admin_key("bob", "id-3", PUBLIC_KEY, max_admins=2)
    with pytest.raises(LimitError):
        store.create_admin_key("carol", "id-4", PUBLIC_KEY, max_admins=2)
    with pytest.raises(NotFoundError):
        store.replace_admin_key("carol", "id-5", PUBLIC_KEY)
    assert store.admin_count() == 2


def test_admin_key_delete_keeps_certificates(store):
    store.create_admin_key("alice", "id-1", PUBLIC_KEY, max_admins=10)
    put(store, "alice", "ca1")
    deleted = store.delete_admin_key("alice")
    assert deleted.key_id == "id-1"
    assert store.admin_key("alice") is None
    assert len(store.trusted_ca_certificates().certificates) == 1


def test_certificate_limits(store):
    for index in range(3):
        store.put_certificate(certificate_row("alice", f"c{index}"), 3, 4)
    with pytest.raises(LimitError, match="alice"):
        store.put_certificate(certificate_row("alice", "c3"), 3, 4)
    # Replacing an existing ID is allowed at the limit.
    store.put_certificate(certificate_row("alice", "c0"), 3, 4)
    store.put_certificate(certificate_row("bob", "b0"), 3, 4)
    with pytest.raises(LimitError, match="instance"):
        store.put_certificate(certificate_row("bob", "b1"), 3, 4)
    assert store.certificate_count() == 4
    assert store.change_version() == 5


def test_failed_transaction_leaves_nothing(store):
    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        with store.transaction():
            put(store, "alice", "ca1")
            store.create_admin_key("alice", "id-1", PUBLIC_KEY, max_admins=10)
            raise Abort()
    assert store.certificates("alice") == []
    assert store.admin_key("alice") is None
    assert store.change_version() == 0


def test_savepoint_undoes_only_its_block(store):
    with store.transaction():
        store.consume_nonce("alice", "nonce-kept-000000", time.time() + 60)
        with pytest.raises(LimitError):
            with store.savepoint():
                put(store, "alice", "ca1")
                raise LimitError("undo the certificate")
    assert store.nonce_count() == 1
    assert store.certificates("alice") == []
    assert store.change_version() == 0


def test_nonce_replay_and_expiry(store):
    store.consume_nonce("alice", "n" * 16, time.time() + 60)
    with pytest.raises(ReplayError):
        store.consume_nonce("bob", "n" * 16, time.time() + 60)
    store.consume_nonce("alice", "old" * 6, time.time() - 1)
    # The expired nonce is dropped by the next consume, and may then be used again.
    store.consume_nonce("alice", "m" * 16, time.time() + 60)
    store.consume_nonce("alice", "old" * 6, time.time() + 60)
    assert store.nonce_count() == 3


def test_audit_rows_and_cap(store, monkeypatch):
    monkeypatch.setattr(store_module, "AUDIT_MAX_ROWS", 3)
    for index in range(5):
        store.record_audit("hs-crypto.mtlscert-cert.set", "mtlscert-cert", "alice", "success",
                           200, "critical", {"certificateId": f"c{index}"})
    events = store.audit_events()
    assert [event.request_data["certificateId"] for event in events] == ["c2", "c3", "c4"]
    assert events[0].action == "hs-crypto.mtlscert-cert.set"
    assert events[0].outcome == "success"


def test_change_version_sees_other_connection(store_path):
    with CertificateStore(store_path) as reader, CertificateStore(store_path) as writer:
        assert reader.change_version() == 0
        put(writer, "alice", "ca1")
        assert reader.change_version() == 1
        put(writer, "alice", "ca2")
        writer.delete_certificate("alice", "ca1")
        assert reader.change_version() == 3
        assert reader.trusted_ca_certificates().version == 3


def test_change_version_is_cheap(store):
    put(store, "alice", "ca1")
    store.change_version()
    started = time.perf_counter()
    for _ in range(2000):
        store.change_version()
    per_call = (time.perf_counter() - started) / 2000
    # A generous bound: the call is one PRAGMA query, tens of microseconds.
    assert per_call < 0.002


def test_threads_share_one_store(store):
    errors = []

    def worker(admin):
        try:
            for index in range(20):
                put(store, admin, f"c{index}")
                store.change_version()
                store.trusted_ca_certificates()
        except Exception as error:  # noqa: BLE001 - reported by the assert below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"admin{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.certificate_count() == 80
    assert store.change_version() == 80


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    from certmgr.store import CertificateStore, StoredCertificate

    path, admin, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = CertificateStore(path)
    for index in range(count):
        pem = f"-----BEGIN CERTIFICATE-----\\n{admin}-{index}\\n-----END CERTIFICATE-----\\n"
        row = StoredCertificate(admin, f"c{index}", pem, "CN=x", 0.0, 1e10, "00", 0, 0)
        store.put_certificate(row, 10**6, 10**6)
        print(index, flush=True)
    store.close()
    """
)


def run_writer(store_path, admin, count) -> subprocess.Popen:
    env = dict(os.environ)
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repository, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, store_path, admin, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_processes_write_one_file(store_path):
    CertificateStore(store_path).close()
    writers = [run_writer(store_path, f"proc{n}", 40) for n in range(3)]
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr
    with CertificateStore(store_path) as store:
        assert store.certificate_count() == 120
        assert store.change_version() == 120
        assert store.integrity_problems() == []


def test_killed_writer_loses_no_commit(store_path):
    CertificateStore(store_path).close()
    writer = run_writer(store_path, "victim", 100_000)
    committed = []
    deadline = time.monotonic() + 60
    while len(committed) < 50 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        committed.append(int(line))
    writer.send_signal(signal.SIGKILL)
    writer.communicate(timeout=30)
    assert len(committed) >= 50, "the writer stopped before 50 commits"

    with CertificateStore(store_path) as store:
        assert store.integrity_problems() == []
        stored = {row.cert_id for row in store.certificates("victim")}
        # Every reported commit survived; at most the one in flight may be there unreported.
        assert {f"c{index}" for index in committed} <= stored
        assert len(stored) - len(committed) <= 1
        assert store.change_version() == len(stored)


def test_newer_schema_is_rejected(store_path):
    CertificateStore(store_path).close()
    connection = sqlite3.connect(store_path)
    connection.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    connection.commit()
    connection.close()
    with pytest.raises(StoreSchemaError, match="upgrade"):
        CertificateStore(store_path)


def test_foreign_database_is_rejected(store_path):
    connection = sqlite3.connect(store_path)
    connection.execute("CREATE TABLE something_else (x)")
    connection.commit()
    connection.close()
    with pytest.raises(StoreSchemaError, match="another application"):
        CertificateStore(store_path)


def test_garbage_file_is_rejected(store_path):
    with open(store_path, "wb") as handle:
        handle.write(b"this is not a database" * 100)
    with pytest.raises(StoreSchemaError, match="not an SQLite database"):
        CertificateStore(store_path)


def test_real_certificate_round_trip(store):
    ca = make_certificate("round trip CA")
    put(store, "alice", "real", ca.pem)
    assert store.trusted_ca_certificates().certificates == (ca.pem.encode(),)


def test_trust_reads_do_not_wait_for_writes(store):
    put(store, "alice", "ca1")
    inside = threading.Event()
    release = threading.Event()

    def hold_write_transaction():
        with store.transaction():
            put(store, "alice", "ca2")
            inside.set()
            release.wait(10)

    writer = threading.Thread(target=hold_write_transaction)
    writer.start()
    try:
        assert inside.wait(10)
        started = time.monotonic()
        # The open transaction is not visible yet, and reading it does not block.
        assert store.change_version() == 1
        assert len(store.trusted_ca_certificates().certificates) == 1
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        writer.join()
    assert store.change_version() == 2
