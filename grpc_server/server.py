"""The GREP11 server process: one gRPC server with a plaintext port and a TLS port.

Both ports serve the same ``grep11.Crypto`` servicer and engine. The TLS port presents the
server certificate from ``<state-dir>/tls/`` and requests no client certificate. The plaintext
port requires no authentication, as an HPCS-compatible local endpoint for clients run with
``GREP11_LOCAL`` set.
"""

import logging
from concurrent import futures
from typing import Optional

import grpc

from ep11core import Engine, masterkey
from grpc_server import tlscerts
from grpc_server.generated import grep11_pb2_grpc
from grpc_server.servicer import CryptoServicer

logger = logging.getLogger(__name__)

# Each call in progress occupies one worker thread, and the engine releases the GIL around crypto,
# so a slow call (an RSA-4096 key generation takes seconds) only blocks its own worker. Calls
# beyond this many at once wait in the queue of the gRPC server.
DEFAULT_MAX_WORKERS = 32

# HPCS documents a 64 MB limit for incoming messages and none for outgoing ones.
MAX_RECEIVE_MESSAGE_BYTES = 64 * 1024 * 1024

_SERVER_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_BYTES),
    ("grpc.max_send_message_length", -1),
    # gRPC turns SO_REUSEPORT on by default, which would let a second emulator bind the port of a
    # running one without an error.
    ("grpc.so_reuseport", 0),
)


class ServerStartError(Exception):
    """A port could not be bound."""


def format_address(host: str, port: int) -> str:
    """Return ``host:port``, with an IPv6 host in brackets."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


class EmulatorServer:
    """An in-process GREP11 server on a plaintext port and a TLS port.

    ``start()`` loads or creates the master key and the TLS files in ``state_dir``. It raises
    ``ep11core.masterkey.MasterKeyError`` for an unusable master key file,
    ``tlscerts.TLSFilesError`` for unusable TLS files and ``ServerStartError`` when a port
    cannot be bound. Port 0 picks a free port; ``port`` and ``tls_port`` hold the bound ports
    once the server has started.
    """

    def __init__(
        self,
        state_dir: str,
        host: str = "127.0.0.1",
        port: int = 9876,
        tls_port: int = 9877,
        max_workers: int = DEFAULT_MAX_WORKERS,
    ):
        self.state_dir = state_dir
        self.host = host
        self.port = port
        self.tls_port = tls_port
        self.max_workers = max_workers
        self.engine: Optional[Engine] = None
        self.wkid: Optional[bytes] = None
        self.ca_cert_path: Optional[str] = None
        self._server: Optional[grpc.Server] = None

    @property
    def address(self) -> str:
        """Plaintext address as ``host:port``."""
        return format_address(self.host, self.port)

    @property
    def tls_address(self) -> str:
        """TLS address as ``host:port``."""
        return format_address(self.host, self.tls_port)

    def start(self) -> None:
        """Load the state, bind both ports and start serving."""
        if self._server is not None:
            raise RuntimeError("the server is already started")
        master_key = masterkey.load_or_create(self.state_dir)
        self.engine = Engine(master_key)
        self.wkid = master_key.wkid
        credentials = tlscerts.ensure_server_credentials(self.state_dir)
        self.ca_cert_path = credentials.ca_cert_path

        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="grep11"),
            options=_SERVER_OPTIONS,
        )
        grep11_pb2_grpc.add_CryptoServicer_to_server(CryptoServicer(self.engine), server)
        tls_credentials = grpc.ssl_server_credentials(
            [(credentials.server_key_pem, credentials.server_cert_pem)],
            require_client_auth=False,
        )
        try:
            self.port = self._bind(server.add_insecure_port, self.port)
            self.tls_port = self._bind(
                lambda address: server.add_secure_port(address, tls_credentials), self.tls_port
            )
        except ServerStartError:
            server.stop(None)
            raise
        server.start()
        self._server = server

    def _bind(self, add_port, port: int) -> int:
        address = format_address(self.host, port)
        try:
            bound = add_port(address)
        except RuntimeError as error:
            raise ServerStartError(f"cannot listen on {address}: {error}") from None
        # grpcio 1.85 raises on a failed bind; a port of 0 would also mean that nothing was bound.
        if bound == 0:
            raise ServerStartError(f"cannot listen on {address}: the port is in use or invalid")
        return bound

    def stop(self, grace: Optional[float] = None) -> None:
        """Stop serving; calls in progress get ``grace`` seconds to finish (None: cancel now)."""
        if self._server is None:
            return
        self._server.stop(grace).wait()
        self._server = None

    def __enter__(self) -> "EmulatorServer":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop(grace=None)
