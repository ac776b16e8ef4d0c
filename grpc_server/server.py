"""The GREP11 server process: one gRPC server with a plaintext port and a TLS port.

Both ports serve the same ``grep11.Crypto`` servicer and engine. The TLS port is a TLS front end
(``grpc_server.tlsfront``) that presents the server certificate from ``<state-dir>/tls/``,
requests a client certificate and relays to a second plaintext port of the gRPC server on
127.0.0.1. ``grpc_server.auth`` checks every call: a client certificate while the certificate
manager contains a CA certificate, on every port, and with IAM on, a bearer token on the TLS port.
The plaintext port needs no token, as an HPCS-compatible local endpoint for clients run with
``GREP11_LOCAL`` set. The certificate-manager HTTPS API runs beside them
(``grpc_server.authservices``).
"""

import logging
from concurrent import futures
from typing import Optional

import grpc

from ep11core import Engine, masterkey
from ep11core.policy import Policy, policy_for_state_dir
from grpc_server import tlscerts
from grpc_server.auth import AuthInterceptor
from grpc_server.authservices import AuthServices, HTTPStartError
from grpc_server.clientcerts import ClientCertificatePolicy
from grpc_server.generated import grep11_pb2_grpc
from grpc_server.lowpriority import DEFAULT_MAX_WORKERS, DEFAULT_QUEUE_SIZE, SlowCallLimiter
from grpc_server.servicer import CryptoServicer
from grpc_server.tlsfront import INTERNAL_HOST, PeerRegistry, TLSFrontEnd, TLSFrontEndError

logger = logging.getLogger(__name__)

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
    """An in-process GREP11 server on a plaintext port and a TLS port, plus the HTTPS port.

    ``start()`` loads or creates the master key, the TLS files and the certificate store in
    ``state_dir``. It raises ``ep11core.masterkey.MasterKeyError`` for an unusable master key
    file, ``tlscerts.TLSFilesError`` for unusable TLS files, ``authservices.AuthServicesError``
    for an unusable certificate store or IAM configuration, and ``ServerStartError`` when a port
    cannot be bound. Port 0 picks a free port; ``port``, ``tls_port`` and ``http_port`` hold the
    bound ports once the server has started. ``iam_config_path`` names an API keys file and
    turns IAM on for the TLS port. ``policy_path`` names a policy file; without it
    ``<state_dir>/policy.json`` applies if it exists (``ep11core.policy.policy_for_state_dir``),
    and an unusable one raises ``ep11core.policy.PolicyError``. The engine follows later
    changes of the master key file, such as the steps of ``grep11-emulator masterkey``.

    ``max_workers`` threads serve the calls other than the slow ones
    (``grpc_server.lowpriority.SLOW_MECHANISMS``). Of those, ``slow_call_threads`` run at once
    (0: one per CPU) and ``slow_call_queue`` more wait; further ones are rejected with
    RESOURCE_EXHAUSTED. ``slow_calls``, the ``SlowCallLimiter`` with their counters, exists
    from ``start()`` on.
    """

    def __init__(
        self,
        state_dir: str,
        host: str = "127.0.0.1",
        port: int = 9876,
        tls_port: int = 9877,
        max_workers: int = DEFAULT_MAX_WORKERS,
        http_port: int = 9878,
        iam_config_path: Optional[str] = None,
        policy_path: Optional[str] = None,
        slow_call_threads: int = 0,
        slow_call_queue: int = DEFAULT_QUEUE_SIZE,
    ):
        self.state_dir = state_dir
        self.policy_path = policy_path
        self.policy: Optional[Policy] = None
        self.host = host
        self.port = port
        self.tls_port = tls_port
        self.http_port = http_port
        # The port on 127.0.0.1 behind the TLS front end, bound at start.
        self.relay_port: Optional[int] = None
        self.max_workers = max_workers
        self.slow_call_threads = slow_call_threads
        self.slow_call_queue = slow_call_queue
        self.slow_calls: Optional[SlowCallLimiter] = None
        self.engine: Optional[Engine] = None
        self.wkid: Optional[bytes] = None
        self.ca_cert_path: Optional[str] = None
        self.auth_services = AuthServices(state_dir, iam_config_path)
        self._server: Optional[grpc.Server] = None
        self._relay_server: Optional[grpc.Server] = None
        self._tls_front_end: Optional[TLSFrontEnd] = None

    @property
    def address(self) -> str:
        """Plaintext address as ``host:port``."""
        return format_address(self.host, self.port)

    @property
    def tls_address(self) -> str:
        """TLS address as ``host:port``."""
        return format_address(self.host, self.tls_port)

    @property
    def http_address(self) -> str:
        """Certificate-manager HTTPS address as ``host:port``."""
        return format_address(self.host, self.http_port)

    def start(self) -> None:
        """Load the state, bind the ports and start serving."""
        if self._server is not None:
            raise RuntimeError("the server is already started")
        master_key = masterkey.load_or_create(self.state_dir)
        self.policy = policy_for_state_dir(self.state_dir, self.policy_path)
        register_file = masterkey.RegisterFile(masterkey.key_file_path(self.state_dir))
        self.engine = Engine(register_file, policy=self.policy)
        self.wkid = master_key.wkid
        credentials = tlscerts.ensure_server_credentials(self.state_dir)
        self.ca_cert_path = credentials.ca_cert_path
        self.auth_services.open()
        try:
            self._start_ports(credentials)
        except BaseException:
            self._stop_ports(grace=None)
            self.auth_services.close()
            raise

    def _start_ports(self, credentials: tlscerts.ServerCredentials) -> None:
        # Two gRPC servers share one thread pool and servicer: the plaintext port, and the port
        # on 127.0.0.1 that only the TLS front end is meant to reach (see grpc_server.tlsfront).
        # Each has its own interceptor, so the port a call arrives on decides whether IAM
        # applies, whatever a client sends.
        registry = PeerRegistry()
        certificate_policy = ClientCertificatePolicy(self.auth_services.certificate_store)
        token_service = self.auth_services.token_service
        plaintext_interceptor = AuthInterceptor(certificate_policy, registry, token_service, False)
        relay_interceptor = AuthInterceptor(certificate_policy, registry, token_service, True)

        self.slow_calls = SlowCallLimiter(self.slow_call_threads, self.slow_call_queue)
        executor = futures.ThreadPoolExecutor(
            max_workers=self.max_workers + self.slow_calls.capacity, thread_name_prefix="grep11"
        )
        servicer = CryptoServicer(self.engine, self.slow_calls)
        self._server = grpc.server(
            executor, options=_SERVER_OPTIONS, interceptors=[plaintext_interceptor]
        )
        self._relay_server = grpc.server(
            executor, options=_SERVER_OPTIONS, interceptors=[relay_interceptor]
        )
        grep11_pb2_grpc.add_CryptoServicer_to_server(servicer, self._server)
        grep11_pb2_grpc.add_CryptoServicer_to_server(servicer, self._relay_server)
        self.port = self._bind(self._server.add_insecure_port, self.port)
        self.relay_port = self._bind(self._relay_server.add_insecure_port, 0, INTERNAL_HOST)
        self._server.start()
        self._relay_server.start()

        try:
            self._tls_front_end = TLSFrontEnd(
                self.host,
                self.tls_port,
                credentials.server_cert_path,
                credentials.server_key_path,
                self.relay_port,
                registry,
            )
            self.tls_port = self._tls_front_end.start()
            self.http_port = self.auth_services.start_http(
                self.host, self.http_port, credentials.server_cert_path, credentials.server_key_path
            )
        except (TLSFrontEndError, HTTPStartError) as error:
            raise ServerStartError(str(error)) from None

    def _bind(self, add_port, port: int, host: Optional[str] = None) -> int:
        address = format_address(host or self.host, port)
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
        self._stop_ports(grace)
        self.auth_services.close()

    def _stop_ports(self, grace: Optional[float]) -> None:
        # The TLS front end stops accepting first but relays until the gRPC servers have
        # finished the calls in progress, so their responses still reach TLS clients.
        if self._tls_front_end is not None:
            self._tls_front_end.stop_accepting()
        servers = [server for server in (self._server, self._relay_server) if server is not None]
        for stopped in [server.stop(grace) for server in servers]:
            stopped.wait()
        self._server = None
        self._relay_server = None
        if self.slow_calls is not None:
            self.slow_calls.shutdown()
        if self._tls_front_end is not None:
            self._tls_front_end.close_connections()
            self._tls_front_end = None

    def __enter__(self) -> "EmulatorServer":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop(grace=None)
