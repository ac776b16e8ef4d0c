"""Mutual TLS, the second layer of authentication, through real servers and the real CLI.

While the certificate manager holds no CA certificate, GREP11 calls need no client certificate.
While it holds one, every call on every port needs a client certificate that chains to a stored
CA, is valid now and allows client authentication; other calls fail with UNAUTHENTICATED and a
Grep11Error. CA certificates are uploaded and deleted with the real ``grep11-certmgr`` command.
"""

import concurrent.futures
import datetime
import os
import socket
import subprocess

import grpc
import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from mtls_support import (
    Administrator,
    CertificateFactory,
    Issued,
    ServeProcess,
    console_command,
    expect_rejected,
    random_bytes,
    tls_channel,
)

from ep11core.constants import CKA, CKM
from grpc_server.generated import grep11_pb2 as pb
from grpc_server.generated import grep11_pb2_grpc
from grpc_server.server import EmulatorServer

# --- certificates made with the openssl command, as an administrator would


def openssl(folder, *arguments: str) -> None:
    result = subprocess.run(
        ["openssl", *arguments], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"openssl {' '.join(arguments)}:\n{result.stderr}"


def openssl_ca(folder, name: str) -> str:
    """Make a self-signed CA with ``openssl genrsa`` and ``openssl req -x509``; return its path."""
    openssl(folder, "genrsa", "-out", f"{name}.key", "2048")
    openssl(
        folder,
        "req", "-x509", "-new", "-key", f"{name}.key", "-sha256", "-days", "30",
        "-subj", f"/CN={name}", "-out", f"{name}.pem",
    )
    return os.path.join(folder, f"{name}.pem")


def openssl_client(folder, name: str, ca_name: str, client_auth: bool = True) -> Issued:
    """Issue a client certificate with ``genrsa``, ``req -new`` and ``x509 -req``.

    With ``client_auth`` the certificate carries extendedKeyUsage clientAuth, which also makes
    it an X.509 v3 certificate; without it, OpenSSL 3 issues a v1 certificate.
    """
    openssl(folder, "genrsa", "-out", f"{name}.key", "2048")
    openssl(folder, "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out",
            f"{name}.csr")
    arguments = [
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca_name}.pem", "-CAkey", f"{ca_name}.key",
        "-CAcreateserial", "-days", "7", "-sha256", "-out", f"{name}.pem",
    ]
    if client_auth:
        with open(os.path.join(folder, f"{name}.ext"), "w") as handle:
            handle.write("extendedKeyUsage = clientAuth\n")
        arguments += ["-extfile", f"{name}.ext"]
    openssl(folder, *arguments)
    with open(os.path.join(folder, f"{name}.pem"), "rb") as handle:
        cert_pem = handle.read()
    with open(os.path.join(folder, f"{name}.key"), "rb") as handle:
        key_pem = handle.read()
    return _PemFiles(cert_pem, key_pem)


class _PemFiles:
    """A client certificate and key read from openssl's files, shaped like ``Issued``."""

    def __init__(self, cert_pem: bytes, key_pem: bytes):
        self.cert_pem = cert_pem
        self.key_pem = key_pem


def test_seed_workflow_with_openssl(tmp_path):
    folder = str(tmp_path)
    server = ServeProcess(tmp_path)
    ready = server.start()
    try:
        with open(ready["ca_cert"], "rb") as handle:
            server_ca = handle.read()
        address = ready["grep11_tls"]
        admin = Administrator(
            "alice", tmp_path / "hpcs-cert-mgr-cfg", f"https://{ready['http']}", ready["ca_cert"]
        )

        openssl_ca(folder, "clientca")
        client = openssl_client(folder, "client", "clientca")
        openssl_ca(folder, "otherca")
        foreign = openssl_client(folder, "foreign", "otherca")

        with tls_channel(address, server_ca) as channel:
            assert len(random_bytes(channel)) == 16

        admin.register()
        admin.upload("clientca", os.path.join(folder, "clientca.pem"))

        with tls_channel(address, server_ca, client) as channel:
            assert len(random_bytes(channel)) == 16
        with tls_channel(address, server_ca) as channel:
            assert "no client certificate" in expect_rejected(channel)
        with tls_channel(address, server_ca, foreign) as channel:
            assert "does not chain" in expect_rejected(channel)

        admin.delete("clientca")

        with tls_channel(address, server_ca) as channel:
            assert len(random_bytes(channel)) == 16
    finally:
        server.stop()
    assert server.process.returncode == 0, server.log()


def test_openssl_v1_certificate_rejected(tmp_path, mtls_server, trust):
    folder = str(tmp_path)
    openssl_ca(folder, "v1ca")
    client = openssl_client(folder, "v1client", "v1ca", client_auth=False)
    trust.upload("v1ca", os.path.join(folder, "v1ca.pem"))
    with mtls_server.channel(client) as channel:
        assert "X.509 v3" in expect_rejected(channel)


# --- one in-process server for the remaining cases


class MTLSServer:
    """The module's server, its CA, and a certificate factory."""

    def __init__(self, server: EmulatorServer, factory: CertificateFactory):
        self.server = server
        self.factory = factory
        with open(server.ca_cert_path, "rb") as handle:
            self.server_ca = handle.read()

    def channel(self, client=None, intermediates=()) -> grpc.Channel:
        return tls_channel(self.server.tls_address, self.server_ca, client, intermediates)

    def plaintext_channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.server.address)


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory):
    server = EmulatorServer(
        str(tmp_path_factory.mktemp("mtls-state")), port=0, tls_port=0, http_port=0
    )
    server.start()
    yield MTLSServer(server, CertificateFactory(tmp_path_factory.mktemp("mtls-certs")))
    server.stop(grace=None)


@pytest.fixture(scope="module")
def administrators(mtls_server, tmp_path_factory):
    """Two registered administrators, alice and bob, each with an own key folder."""
    endpoint = f"https://{mtls_server.server.http_address}"
    admins = {}
    for name in ("alice", "bob"):
        admin = Administrator(
            name, tmp_path_factory.mktemp(f"{name}-cfg"), endpoint, mtls_server.server.ca_cert_path
        )
        admin.register()
        admins[name] = admin
    return admins


class Trust:
    """Uploads CA certificates and deletes the remaining ones when the test ends."""

    def __init__(self, administrators):
        self._administrators = administrators
        self._uploaded = []

    def upload(self, cert_id: str, cert_path: str, admin: str = "alice") -> None:
        self._administrators[admin].upload(cert_id, cert_path)
        if (admin, cert_id) not in self._uploaded:
            self._uploaded.append((admin, cert_id))

    def delete(self, cert_id: str, admin: str = "alice") -> None:
        self._administrators[admin].delete(cert_id)
        self._uploaded.remove((admin, cert_id))

    def delete_all(self) -> None:
        for admin, cert_id in list(self._uploaded):
            self.delete(cert_id, admin)


@pytest.fixture
def trust(administrators, mtls_server):
    uploads = Trust(administrators)
    yield uploads
    uploads.delete_all()
    # Every test starts and ends with mutual TLS off.
    with mtls_server.channel() as channel:
        assert len(random_bytes(channel)) == 16


def test_connection_opened_before_upload(mtls_server, trust):
    ca = mtls_server.factory.ca("before-ca")
    client = mtls_server.factory.client("before-client", ca)
    with mtls_server.channel() as bare, mtls_server.channel(client) as presenting:
        assert len(random_bytes(bare)) == 16
        assert len(random_bytes(presenting)) == 16
        trust.upload("before-ca", ca.cert_path)
        assert "no client certificate" in expect_rejected(bare)
        # The handshake of this connection, before the upload, already carried the certificate.
        assert len(random_bytes(presenting)) == 16
        trust.delete("before-ca")
        assert len(random_bytes(bare)) == 16


def test_expired_client_certificate(mtls_server, trust):
    ca = mtls_server.factory.ca("expiry-ca")
    now = datetime.datetime.now(datetime.timezone.utc)
    expired = mtls_server.factory.client(
        "expired-client",
        ca,
        not_before=now - datetime.timedelta(days=10),
        not_after=now - datetime.timedelta(days=1),
    )
    trust.upload("expiry-ca", ca.cert_path)
    with mtls_server.channel(expired) as channel:
        assert "expired" in expect_rejected(channel)


def test_not_yet_valid_client_certificate(mtls_server, trust):
    ca = mtls_server.factory.ca("future-ca")
    now = datetime.datetime.now(datetime.timezone.utc)
    future = mtls_server.factory.client(
        "future-client",
        ca,
        not_before=now + datetime.timedelta(days=1),
        not_after=now + datetime.timedelta(days=10),
    )
    trust.upload("future-ca", ca.cert_path)
    with mtls_server.channel(future) as channel:
        assert "not valid before" in expect_rejected(channel)


def test_client_certificate_without_client_auth(mtls_server, trust):
    ca = mtls_server.factory.ca("usage-ca")
    server_only = mtls_server.factory.client(
        "server-only", ca, usages=(ExtendedKeyUsageOID.SERVER_AUTH,)
    )
    trust.upload("usage-ca", ca.cert_path)
    with mtls_server.channel(server_only) as channel:
        assert "clientAuth" in expect_rejected(channel)


def test_client_certificate_without_usage_extension(mtls_server, trust):
    ca = mtls_server.factory.ca("any-usage-ca")
    unrestricted = mtls_server.factory.client("unrestricted", ca, usages=None)
    trust.upload("any-usage-ca", ca.cert_path)
    with mtls_server.channel(unrestricted) as channel:
        assert len(random_bytes(channel)) == 16


def test_intermediate_ca_upload(mtls_server, trust):
    root = mtls_server.factory.ca("root-ca")
    intermediate = mtls_server.factory.ca("intermediate-ca", issuer=root)
    leaf = mtls_server.factory.client("leaf-client", intermediate)
    trust.upload("root-ca", root.cert_path)
    with mtls_server.channel(leaf) as channel:
        assert "does not chain" in expect_rejected(channel)
    trust.upload("intermediate-ca", intermediate.cert_path)
    with mtls_server.channel(leaf) as channel:
        assert len(random_bytes(channel)) == 16


def test_intermediate_sent_by_client(mtls_server, trust):
    root = mtls_server.factory.ca("chain-root-ca")
    intermediate = mtls_server.factory.ca("chain-intermediate-ca", issuer=root)
    leaf = mtls_server.factory.client("chain-leaf", intermediate)
    trust.upload("chain-root-ca", root.cert_path)
    with mtls_server.channel(leaf, intermediates=[intermediate]) as channel:
        assert len(random_bytes(channel)) == 16


def test_certificate_replaced_under_same_id(mtls_server, trust):
    first_ca = mtls_server.factory.ca("first-ca")
    second_ca = mtls_server.factory.ca("second-ca")
    first_client = mtls_server.factory.client("first-client", first_ca)
    second_client = mtls_server.factory.client("second-client", second_ca)
    trust.upload("replaced", first_ca.cert_path)
    with mtls_server.channel(first_client) as first, mtls_server.channel(second_client) as second:
        assert len(random_bytes(first)) == 16
        expect_rejected(second)
        trust.upload("replaced", second_ca.cert_path)
        expect_rejected(first)
        assert len(random_bytes(second)) == 16


def test_plaintext_port_while_ca_stored(mtls_server, trust):
    ca = mtls_server.factory.ca("plaintext-ca")
    with mtls_server.plaintext_channel() as channel:
        assert len(random_bytes(channel)) == 16
        trust.upload("plaintext-ca", ca.cert_path)
        assert "TLS port" in expect_rejected(channel)
        trust.delete("plaintext-ca")
        assert len(random_bytes(channel)) == 16


def test_two_administrators(mtls_server, trust):
    alice_ca = mtls_server.factory.ca("alice-ca")
    bob_ca = mtls_server.factory.ca("bob-ca")
    alice_client = mtls_server.factory.client("alice-client", alice_ca)
    bob_client = mtls_server.factory.client("bob-client", bob_ca)
    trust.upload("team-ca", alice_ca.cert_path, admin="alice")
    trust.upload("team-ca", bob_ca.cert_path, admin="bob")
    with mtls_server.channel(alice_client) as channel:
        assert len(random_bytes(channel)) == 16
    with mtls_server.channel(bob_client) as channel:
        assert len(random_bytes(channel)) == 16

    trust.delete("team-ca", admin="alice")
    with mtls_server.channel(alice_client) as channel:
        expect_rejected(channel)
    with mtls_server.channel(bob_client) as channel:
        assert len(random_bytes(channel)) == 16
    # Bob's CA keeps mutual TLS on.
    with mtls_server.channel() as channel:
        expect_rejected(channel)

    trust.delete("team-ca", admin="bob")
    with mtls_server.channel() as channel:
        assert len(random_bytes(channel)) == 16


# --- the TLS front end as a transport


def test_large_messages_through_tls(mtls_server):
    data = os.urandom(16 * 1024 * 1024)
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    address = mtls_server.server.tls_address
    with tls_channel(address, mtls_server.server_ca, options=options) as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        key = stub.GenerateKey(
            pb.GenerateKeyRequest(
                Mech=pb.Mechanism(Mechanism=CKM.AES_KEY_GEN),
                Template={CKA.VALUE_LEN: pb.AttributeValue(AttributeI=32)},
            ),
            timeout=60,
        ).KeyBytes
        mechanism = pb.Mechanism(Mechanism=CKM.AES_CBC_PAD, ParameterB=bytes(16))
        ciphered = stub.EncryptSingle(
            pb.EncryptSingleRequest(Mech=mechanism, Key=pb.KeyBlob(KeyBlobs=[key]), Plain=data),
            timeout=120,
        ).Ciphered
        plain = stub.DecryptSingle(
            pb.DecryptSingleRequest(
                Mech=mechanism, Key=pb.KeyBlob(KeyBlobs=[key]), Ciphered=ciphered
            ),
            timeout=120,
        ).Plain
    assert len(ciphered) == len(data) + 16
    assert plain == data


def test_concurrent_calls_through_tls(mtls_server):
    with mtls_server.channel() as shared:
        def call_both(index):
            with mtls_server.channel() as own:
                return len(random_bytes(shared)) + len(random_bytes(own))

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(call_both, range(32)))
    assert results == [32] * 32


def test_idle_connection_does_not_block_tls_port(mtls_server):
    host, port = mtls_server.server.tls_address.rsplit(":", 1)
    with socket.create_connection((host, int(port))):
        # This connection never sends a ClientHello.
        with mtls_server.channel() as channel:
            assert len(random_bytes(channel)) == 16


def test_stop_with_open_tls_connection(tmp_path):
    server = EmulatorServer(str(tmp_path / "state"), port=0, tls_port=0, http_port=0)
    server.start()
    with open(server.ca_cert_path, "rb") as handle:
        server_ca = handle.read()
    with tls_channel(server.tls_address, server_ca) as channel:
        assert len(random_bytes(channel)) == 16
        server.stop(grace=1)
        with pytest.raises(grpc.RpcError) as raised:
            random_bytes(channel)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("flag", ["--tls-port", "--http-port"])
def test_busy_port_exits_1(tmp_path, flag):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        busy_port = str(busy.getsockname()[1])
        ports = {"--port": "0", "--tls-port": "0", "--http-port": "0", flag: busy_port}
        command = console_command("grep11-emulator", "grpc_server.cli") + [
            "serve", "--state-dir", str(tmp_path / "state"),
        ]
        for name, value in ports.items():
            command += [name, value]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert busy_port in result.stderr
    assert "Traceback" not in result.stderr
