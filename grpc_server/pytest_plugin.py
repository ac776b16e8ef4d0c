"""pytest fixtures that run a GREP11 emulator inside the test process.

Installing grep11-emulator registers this module as the pytest plugin ``grep11_emulator``, so
any project's tests can use the fixtures without a conftest entry:

``grep11_emulator`` (session scope)
    A started ``EmulatorServer`` on free loopback ports (127.0.0.1) with a fresh temporary
    state folder, stopped at the end of the session. Attributes: ``address`` and
    ``tls_address`` (``host:port``), ``http_address`` (``host:port`` of the certificate
    manager's HTTPS API), ``ca_cert_path`` (the PEM CA that signed the server certificate),
    ``state_dir``, and ``engine`` (the ``ep11core.Engine`` behind both ports, for calls that
    bypass gRPC). IAM is off; mutual TLS turns on when a test uploads a CA certificate.

``grep11_stub`` (session scope)
    A ``grep11_pb2_grpc.CryptoStub`` on a plaintext channel to ``grep11_emulator.address``.

``grep11_tls_stub`` (session scope)
    A ``CryptoStub`` on a TLS channel to ``grep11_emulator.tls_address`` that trusts only the
    emulator's CA.

Example::

    from grpc_server.generated import grep11_pb2

    def test_random(grep11_stub):
        response = grep11_stub.GenerateRandom(grep11_pb2.GenerateRandomRequest(Len=16))
        assert len(response.Rnd) == 16

The server keeps no per-call state, so tests that share the session server only share its
master key.
"""

import grpc
import pytest

from grpc_server.generated import grep11_pb2_grpc
from grpc_server.server import EmulatorServer


@pytest.fixture(scope="session")
def grep11_emulator(tmp_path_factory):
    """A started ``EmulatorServer`` for the whole session, on free ports of 127.0.0.1 with a
    fresh state folder and IAM off. It stops when the session ends. Its attributes include
    ``address``, ``tls_address``, ``http_address``, ``ca_cert_path``, ``state_dir`` and
    ``engine``."""
    server = EmulatorServer(
        str(tmp_path_factory.mktemp("grep11-state")),
        host="127.0.0.1",
        port=0,
        tls_port=0,
        http_port=0,
    )
    server.start()
    yield server
    server.stop(grace=None)


@pytest.fixture(scope="session")
def grep11_stub(grep11_emulator):
    """A ``CryptoStub`` for the whole session, on a plaintext channel to
    ``grep11_emulator.address``."""
    with grpc.insecure_channel(grep11_emulator.address) as channel:
        yield grep11_pb2_grpc.CryptoStub(channel)


@pytest.fixture(scope="session")
def grep11_tls_stub(grep11_emulator):
    """A ``CryptoStub`` for the whole session, on a TLS channel to
    ``grep11_emulator.tls_address`` that trusts only the emulator's CA."""
    with open(grep11_emulator.ca_cert_path, "rb") as handle:
        credentials = grpc.ssl_channel_credentials(root_certificates=handle.read())
    # The server certificate names IP 127.0.0.1, so the address verifies as it is.
    with grpc.secure_channel(grep11_emulator.tls_address, credentials) as channel:
        yield grep11_pb2_grpc.CryptoStub(channel)
