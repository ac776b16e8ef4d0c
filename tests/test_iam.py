"""IAM bearer tokens, the first layer of authentication, on real servers.

With ``--iam``, calls on the TLS port need ``authorization: Bearer <token>`` with a token from
``POST /identity/token`` whose roles allow the RPC; the plaintext port needs no token.
"""

import json
import os
import ssl
import subprocess
import time

import grpc
import httpx
import pytest
from conftest import grep11_error
from mtls_support import (
    Administrator,
    CertificateFactory,
    console_command,
    expect_rejected,
    random_bytes,
    tls_channel,
)

from certmgr.iam import GRANT_TYPE_APIKEY, IAMConfig, TokenService
from ep11core.constants import CKA, CKM
from grpc_server.auth import RPC_ROLES
from grpc_server.authservices import IAM_KEY_FILE
from grpc_server.generated import grep11_pb2 as pb
from grpc_server.generated import grep11_pb2_grpc
from grpc_server.server import EmulatorServer

API_KEYS = [
    {"apikey": "reader-key", "name": "rita", "roles": ["Reader"]},
    {"apikey": "writer-key", "name": "walter", "roles": ["Writer"]},
    {"apikey": "manager-key", "name": "maria", "roles": ["Manager"]},
    {"apikey": "certmgr-key", "name": "carl", "roles": ["Certificate Manager"]},
    {"apikey": "admin-key", "name": "ada", "roles": ["Reader", "Certificate Manager"]},
]
AES_KEY_GEN = pb.GenerateKeyRequest(
    Mech=pb.Mechanism(Mechanism=CKM.AES_KEY_GEN),
    Template={CKA.VALUE_LEN: pb.AttributeValue(AttributeI=32)},
)


def write_api_keys(folder) -> str:
    path = os.path.join(str(folder), "apikeys.json")
    with open(path, "w") as handle:
        json.dump(API_KEYS, handle)
    return path


class IAMServer:
    """The module's server with IAM on, and ways to get tokens from it."""

    def __init__(self, server: EmulatorServer, api_keys_path: str):
        self.server = server
        self.api_keys_path = api_keys_path
        with open(server.ca_cert_path, "rb") as handle:
            self.server_ca = handle.read()

    def token_url(self) -> str:
        return f"https://{self.server.http_address}/identity/token"

    def token_from_form(self, apikey: str) -> dict:
        """Request a token as IBM's Go client does: a form body."""
        response = httpx.post(
            self.token_url(),
            content=f"grant_type={GRANT_TYPE_APIKEY}&apikey={apikey}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            verify=ssl.create_default_context(cafile=self.server.ca_cert_path),
        )
        assert response.status_code == 200, response.text
        return response.json()

    def token_from_query(self, apikey: str) -> dict:
        """Request a token as IBM's JavaScript client does: the query string, no body."""
        response = httpx.post(
            self.token_url(),
            params={"grant_type": GRANT_TYPE_APIKEY, "apikey": apikey},
            headers={"Accept": "application/json"},
            verify=ssl.create_default_context(cafile=self.server.ca_cert_path),
        )
        assert response.status_code == 200, response.text
        return response.json()

    def bearer(self, apikey: str) -> list:
        return [("authorization", f"Bearer {self.token_from_form(apikey)['access_token']}")]

    def channel(self, client=None) -> grpc.Channel:
        return tls_channel(self.server.tls_address, self.server_ca, client)


@pytest.fixture(scope="module")
def iam_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("iam")
    api_keys_path = write_api_keys(folder)
    server = EmulatorServer(
        str(folder / "state"), port=0, tls_port=0, http_port=0, iam_config_path=api_keys_path
    )
    server.start()
    yield IAMServer(server, api_keys_path)
    server.stop(grace=None)


def test_token_from_form_body(iam_server):
    token = iam_server.token_from_form("reader-key")
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] > 0
    metadata = [("authorization", f"Bearer {token['access_token']}")]
    with iam_server.channel() as channel:
        assert len(random_bytes(channel, metadata)) == 16


def test_token_from_query_string(iam_server):
    token = iam_server.token_from_query("reader-key")
    assert token["expiration"] > time.time()
    metadata = [("authorization", f"Bearer {token['access_token']}")]
    with iam_server.channel() as channel:
        assert len(random_bytes(channel, metadata)) == 16


def test_missing_token(iam_server):
    with iam_server.channel() as channel:
        assert "missing IAM token" in expect_rejected(channel)


def test_bearer_scheme_case_insensitive(iam_server):
    token = iam_server.token_from_form("reader-key")["access_token"]
    with iam_server.channel() as channel:
        assert len(random_bytes(channel, [("authorization", f"bearer {token}")])) == 16


def test_malformed_authorization(iam_server):
    token = iam_server.token_from_form("reader-key")["access_token"]
    with iam_server.channel() as channel:
        expect_rejected(channel, metadata=[("authorization", f"Basic {token}")])
        expect_rejected(channel, metadata=[("authorization", "Bearer not-a-token")])


def test_token_of_another_signing_key(iam_server):
    other = TokenService(IAMConfig.load(iam_server.api_keys_path), b"\x01" * 32)
    metadata = [("authorization", f"Bearer {other.issue('reader-key')['access_token']}")]
    with iam_server.channel() as channel:
        assert "invalid IAM token" in expect_rejected(channel, metadata=metadata)


def test_expired_token(iam_server):
    with open(os.path.join(iam_server.server.state_dir, IAM_KEY_FILE), "rb") as handle:
        signing_key = handle.read()
    two_hours_ago = time.time() - 7200
    issuer = TokenService(
        IAMConfig.load(iam_server.api_keys_path), signing_key, clock=lambda: two_hours_ago
    )
    metadata = [("authorization", f"Bearer {issuer.issue('reader-key')['access_token']}")]
    with iam_server.channel() as channel:
        assert "expired" in expect_rejected(channel, metadata=metadata)


def test_wrong_role_rejected_with_permission_denied(iam_server):
    with iam_server.channel() as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GenerateKey(AES_KEY_GEN, metadata=iam_server.bearer("reader-key"), timeout=20)
    _, detail = grep11_error(raised.value, grpc.StatusCode.PERMISSION_DENIED)
    assert "Writer" in detail.Detail


def test_certificate_manager_role_grants_no_grep11_call(iam_server):
    with iam_server.channel() as channel:
        detail = expect_rejected(
            channel, grpc.StatusCode.PERMISSION_DENIED, metadata=iam_server.bearer("certmgr-key")
        )
    assert "Reader" in detail


@pytest.mark.parametrize("apikey", ["writer-key", "manager-key"])
def test_writer_and_manager_generate_keys(iam_server, apikey):
    with iam_server.channel() as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        response = stub.GenerateKey(AES_KEY_GEN, metadata=iam_server.bearer(apikey), timeout=20)
    assert response.KeyBytes


def test_reader_calls(iam_server):
    metadata = iam_server.bearer("admin-key")
    with iam_server.channel() as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        mechanisms = stub.GetMechanismList(
            pb.GetMechanismListRequest(), metadata=metadata, timeout=20
        ).Mechs
        digest = stub.DigestSingle(
            pb.DigestSingleRequest(Mech=pb.Mechanism(Mechanism=CKM.SHA256), Data=b"abc"),
            metadata=metadata,
            timeout=20,
        ).Digest
    assert CKM.SHA256 in mechanisms
    assert len(digest) == 32


def test_bluemix_instance_header_ignored(iam_server):
    instance = ("bluemix-instance", "00000000-0000-0000-0000-000000000000")
    with iam_server.channel() as channel:
        assert len(random_bytes(channel, iam_server.bearer("reader-key") + [instance])) == 16
        assert "missing IAM token" in expect_rejected(channel, metadata=[instance])


def test_plaintext_port_needs_no_token(iam_server):
    with grpc.insecure_channel(iam_server.server.address) as channel:
        assert len(random_bytes(channel)) == 16


def test_role_table_covers_every_rpc():
    service = pb.DESCRIPTOR.services_by_name["Crypto"]
    assert set(RPC_ROLES) == {method.name for method in service.methods}


def test_token_valid_after_restart(tmp_path):
    api_keys_path = write_api_keys(tmp_path)
    state_dir = str(tmp_path / "state")
    first = EmulatorServer(
        state_dir, port=0, tls_port=0, http_port=0, iam_config_path=api_keys_path
    )
    first.start()
    try:
        metadata = IAMServer(first, api_keys_path).bearer("reader-key")
    finally:
        first.stop(grace=None)
    second = EmulatorServer(
        state_dir, port=0, tls_port=0, http_port=0, iam_config_path=api_keys_path
    )
    second.start()
    try:
        with IAMServer(second, api_keys_path).channel() as channel:
            assert len(random_bytes(channel, metadata)) == 16
    finally:
        second.stop(grace=None)
    assert os.stat(os.path.join(state_dir, IAM_KEY_FILE)).st_mode & 0o777 == 0o600


def test_iam_and_client_certificate_together(iam_server, tmp_path):
    factory = CertificateFactory(tmp_path)
    ca = factory.ca("iam-ca")
    client = factory.client("iam-client", ca)
    admin = Administrator(
        "ada", tmp_path / "cfg", f"https://{iam_server.server.http_address}",
        iam_server.server.ca_cert_path,
    )
    admin.run("adminkey", "set", "--apikey", "admin-key")
    admin.run(
        "cert", "set", "--apikey", "admin-key", "--admin-priv-key", admin.private_key_path,
        "--cert-id", "iam-ca", "--cert", ca.cert_path,
    )
    try:
        metadata = iam_server.bearer("reader-key")
        with iam_server.channel(client) as channel:
            assert len(random_bytes(channel, metadata)) == 16
            assert "missing IAM token" in expect_rejected(channel)
        with iam_server.channel() as channel:
            assert "no client certificate" in expect_rejected(channel, metadata=metadata)
    finally:
        admin.run(
            "cert", "delete", "--apikey", "admin-key", "--admin-priv-key",
            admin.private_key_path, "--cert-id", "iam-ca",
        )


def test_serve_with_unreadable_api_keys_file(tmp_path):
    command = console_command("grep11-emulator", "grpc_server.cli") + [
        "serve",
        "--state-dir", str(tmp_path / "state"),
        "--port", "0",
        "--tls-port", "0",
        "--http-port", "0",
        "--iam", str(tmp_path / "missing.json"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "missing.json" in result.stderr


def test_relay_port_counts_as_tls(iam_server):
    # A client that reaches the port behind the TLS front end directly still needs a token.
    with grpc.insecure_channel(f"127.0.0.1:{iam_server.server.relay_port}") as channel:
        assert "missing IAM token" in expect_rejected(channel)
        assert len(random_bytes(channel, iam_server.bearer("reader-key"))) == 16
