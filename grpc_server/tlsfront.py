"""The TLS port: a TLS front end that requests client certificates and relays to gRPC.

grpcio's server credentials offer two client-certificate modes only: never request a
certificate, or require one and verify it during the handshake against fixed roots
(``GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE`` and
``GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY`` in grpcio 1.85's Cython layer).
With either, a client without a trusted certificate could not get the GREP11 error that the
second layer of authentication needs: UNAUTHENTICATED with a ``Grep11Error`` detail. A
handshake failure reaches gRPC clients as UNAVAILABLE without details.

So the TLS port is served here instead, with pyOpenSSL: every handshake requests a client
certificate, accepts the handshake with any certificate or none, and records the presented
chain. After the handshake the front end opens a plaintext connection to the gRPC server's
internal port on 127.0.0.1 and relays bytes both ways, HTTP/2 frames untouched. Before it
connects it registers its own source address with the chain in a ``PeerRegistry``, where the
call interceptor (``grpc_server.auth``) finds the chain under ``context.peer()``. The
certificate checks therefore run per call against the trust store of that moment, and no
handshake setting depends on the store: an upload or deletion applies to the next call, on new
connections and on ones opened before it.

The handshake offers TLS 1.2 and 1.3, selects ALPN ``h2`` (gRPC clients require it), presents
the server certificate from ``<state-dir>/tls/`` and disables session resumption, so every
connection presents its certificate afresh.

Each connection uses one thread that polls both sockets. NOTE: the relay adds one loopback hop
and the copying in Python to every TLS call; the plaintext port does not have this cost.
"""

import logging
import select
import socket
import threading
import time
from typing import Dict, Optional, Set

from OpenSSL import SSL

from grpc_server.clientcerts import PeerCertificates

logger = logging.getLogger(__name__)

INTERNAL_HOST = "127.0.0.1"
HANDSHAKE_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0
LISTEN_BACKLOG = 128
# Bytes read per call, and the most either direction buffers before it stops reading; HTTP/2
# flow control keeps a well-behaved peer far below this.
READ_SIZE = 64 * 1024
BUFFER_LIMIT = 1024 * 1024

_POLL_ERRORS = select.POLLERR | select.POLLHUP | select.POLLNVAL


def internal_peer_name(port: int) -> str:
    """Return the ``context.peer()`` string of a connection from ``INTERNAL_HOST:port``."""
    return f"ipv4:{INTERNAL_HOST}:{port}"


class PeerRegistry:
    """The client certificates of the relayed connections, by their internal peer name."""

    def __init__(self):
        self._peers: Dict[str, PeerCertificates] = {}
        self._lock = threading.Lock()

    def add(self, name: str, peer: PeerCertificates) -> None:
        with self._lock:
            self._peers[name] = peer

    def remove(self, name: str) -> None:
        with self._lock:
            self._peers.pop(name, None)

    def lookup(self, name: str) -> Optional[PeerCertificates]:
        """Return the certificates behind a peer name, or None for a connection not relayed."""
        with self._lock:
            return self._peers.get(name)


class TLSFrontEndError(Exception):
    """The TLS port could not be bound or its certificate not loaded."""


def _accept_any_certificate(connection, certificate, error_number, depth, ok) -> bool:
    # The chain is checked per call against the trust store of that moment, see
    # grpc_server.clientcerts; the handshake only collects it.
    return True


def _select_h2(connection, offered_protocols):
    if b"h2" in offered_protocols:
        return b"h2"
    return SSL.NO_OVERLAPPING_PROTOCOLS


def _server_context(cert_path: str, key_path: str) -> SSL.Context:
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.set_options(SSL.OP_NO_TICKET | SSL.OP_NO_RENEGOTIATION)
    context.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    context.use_certificate_chain_file(cert_path)
    context.use_privatekey_file(key_path)
    context.check_privatekey()
    # VERIFY_PEER without VERIFY_FAIL_IF_NO_PEER_CERT: request a certificate, accept none.
    context.set_verify(SSL.VERIFY_PEER, _accept_any_certificate)
    context.set_alpn_select_callback(_select_h2)
    return context


def _wait(sock: socket.socket, events: int, timeout: float) -> None:
    poller = select.poll()
    poller.register(sock, events)
    if not poller.poll(max(timeout, 0.0) * 1000):
        raise TimeoutError("the TLS handshake timed out")


class TLSFrontEnd:
    """The TLS listener on ``host:port`` that relays to the gRPC server on ``backend_port``."""

    def __init__(
        self,
        host: str,
        port: int,
        cert_path: str,
        key_path: str,
        backend_port: int,
        registry: PeerRegistry,
    ):
        self.host = host
        self.port = port
        self._backend_port = backend_port
        self._registry = registry
        try:
            self._context = _server_context(cert_path, key_path)
        except (SSL.Error, OSError) as error:
            raise TLSFrontEndError(f"cannot load the TLS server certificate: {error}") from error
        self._listener: Optional[socket.socket] = None
        self._acceptor: Optional[threading.Thread] = None
        self._connections: Set[socket.socket] = set()
        self._threads: Set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def start(self) -> int:
        """Bind the port, start accepting and return the bound port (useful for port 0)."""
        # NOTE: a host name binds only its first address; with "localhost" the plaintext port
        # (bound by gRPC) may listen on both 127.0.0.1 and ::1 while the TLS port takes one.
        try:
            family, _, _, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            self._listener = socket.create_server(address, family=family, backlog=LISTEN_BACKLOG)
        except OSError as error:
            raise TLSFrontEndError(f"cannot listen on {self.host}:{self.port}: {error}") from None
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="grep11-tls-accept", daemon=True
        )
        self._acceptor.start()
        return self.port

    def stop_accepting(self) -> None:
        """Close the listener; relayed connections keep running."""
        with self._lock:
            self._stopping = True
            listener, self._listener = self._listener, None
        if listener is None:
            return
        # shutdown() wakes the acceptor thread blocked in accept().
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()
        if self._acceptor is not None:
            self._acceptor.join()

    def close_connections(self, timeout: float = 5.0) -> None:
        """Cut every relayed connection and wait up to ``timeout`` seconds for their threads."""
        with self._lock:
            sockets = list(self._connections)
            threads = list(self._threads)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))

    def stop(self) -> None:
        self.stop_accepting()
        self.close_connections()

    def _accept_loop(self) -> None:
        listener = self._listener
        while True:
            try:
                client, address = listener.accept()
            except OSError:
                # The listener was shut down by stop_accepting(), or accept() failed for good.
                with self._lock:
                    if self._stopping:
                        return
                logger.exception("accepting a TLS connection failed; the TLS port stops")
                return
            thread = threading.Thread(
                target=self._serve, args=(client, address), name="grep11-tls-relay", daemon=True
            )
            with self._lock:
                if self._stopping:
                    client.close()
                    return
                self._threads.add(thread)
            thread.start()

    def _serve(self, client: socket.socket, address) -> None:
        client_name = f"{address[0]}:{address[1]}"
        backend: Optional[socket.socket] = None
        peer_name = None
        with self._lock:
            self._connections.add(client)
        try:
            client.setblocking(False)
            tls = SSL.Connection(self._context, client)
            tls.set_accept_state()
            try:
                self._handshake(tls, client)
            except (SSL.Error, OSError) as error:
                logger.info("TLS handshake with %s failed: %s", client_name, error)
                return
            peer = PeerCertificates(chain=self._peer_chain(tls), address=client_name)

            backend = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            with self._lock:
                self._connections.add(backend)
            backend.bind((INTERNAL_HOST, 0))
            peer_name = internal_peer_name(backend.getsockname()[1])
            # Registered before connecting, so the first call on the connection finds it.
            self._registry.add(peer_name, peer)
            backend.settimeout(CONNECT_TIMEOUT_SECONDS)
            try:
                backend.connect((INTERNAL_HOST, self._backend_port))
            except OSError as error:
                logger.error("cannot relay TLS connection from %s: %s", client_name, error)
                return
            backend.setblocking(False)
            backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _Relay(tls, client, backend).run()
        except Exception:
            logger.exception("the TLS relay of %s failed", client_name)
        finally:
            if peer_name is not None:
                self._registry.remove(peer_name)
            with self._lock:
                self._connections.discard(client)
                if backend is not None:
                    self._connections.discard(backend)
                self._threads.discard(threading.current_thread())
            if backend is not None:
                backend.close()
            client.close()

    @staticmethod
    def _handshake(tls: SSL.Connection, client: socket.socket) -> None:
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_SECONDS
        while True:
            try:
                tls.do_handshake()
                return
            except SSL.WantReadError:
                events = select.POLLIN
            except SSL.WantWriteError:
                events = select.POLLOUT
            _wait(client, events, deadline - time.monotonic())

    @staticmethod
    def _peer_chain(tls: SSL.Connection):
        leaf = tls.get_peer_certificate(as_cryptography=True)
        if leaf is None:
            return ()
        # On the server side OpenSSL returns the chain without the client's own certificate.
        rest = tls.get_peer_cert_chain(as_cryptography=True) or []
        return (leaf,) + tuple(certificate for certificate in rest if certificate != leaf)


class _Relay:
    """Copy bytes between a TLS client and the plaintext gRPC connection until either closes.

    Both sockets are non-blocking. Each round tries every transfer that its buffers allow and
    polls only when a round moved nothing.
    """

    def __init__(self, tls: SSL.Connection, client: socket.socket, backend: socket.socket):
        self._tls = tls
        self._client = client
        self._backend = backend
        self._to_backend = bytearray()
        self._to_client = bytearray()
        # OpenSSL requires a blocked write to be retried with the same bytes.
        self._blocked_write: Optional[bytes] = None
        self._client_open = True
        self._backend_open = True
        self._backend_write_shut = False
        self._read_wants_write = False
        self._write_wants_read = False

    def run(self) -> None:
        poller = select.poll()
        while True:
            try:
                progressed = self._transfer()
            except (SSL.Error, OSError) as error:
                logger.debug("TLS relay closed: %s", error)
                return
            if self._finished():
                self._close_tls()
                return
            client_events, backend_events = self._poll_events()
            poller.register(self._client, client_events)
            poller.register(self._backend, backend_events)
            for fd, revents in poller.poll(0 if progressed else None):
                if revents & _POLL_ERRORS and not revents & select.POLLIN:
                    return

    def _finished(self) -> bool:
        # After the client's end of stream the loop goes on until the gRPC server, which sees
        # its own end of stream, closes. Once nothing more can come from the server, whatever
        # it sent is flushed to the client before closing.
        return not self._backend_open and not self._to_client and self._blocked_write is None

    def _poll_events(self):
        client_events = 0
        if self._client_open and len(self._to_backend) < BUFFER_LIMIT:
            client_events |= select.POLLIN
        if self._write_wants_read:
            client_events |= select.POLLIN
        if self._read_wants_write or (
            self._blocked_write is not None and not self._write_wants_read
        ):
            client_events |= select.POLLOUT
        backend_events = 0
        if self._backend_open and len(self._to_client) < BUFFER_LIMIT:
            backend_events |= select.POLLIN
        if self._to_backend:
            backend_events |= select.POLLOUT
        return client_events, backend_events

    def _transfer(self) -> bool:
        progressed = self._read_client()
        progressed |= self._write_backend()
        progressed |= self._read_backend()
        progressed |= self._write_client()
        return progressed

    def _read_client(self) -> bool:
        if not self._client_open or len(self._to_backend) >= BUFFER_LIMIT:
            return False
        progressed = False
        self._read_wants_write = False
        try:
            while len(self._to_backend) < BUFFER_LIMIT:
                self._to_backend += self._tls.recv(READ_SIZE)
                progressed = True
        except SSL.WantReadError:
            pass
        except SSL.WantWriteError:
            self._read_wants_write = True
        except (SSL.ZeroReturnError, SSL.SysCallError):
            # close_notify, or the TCP connection ended without one.
            self._client_open = False
            progressed = True
        return progressed

    def _write_backend(self) -> bool:
        progressed = False
        if self._to_backend:
            try:
                sent = self._backend.send(self._to_backend)
            except BlockingIOError:
                sent = 0
            del self._to_backend[:sent]
            progressed = sent > 0
        if not self._client_open and not self._to_backend and not self._backend_write_shut:
            self._backend.shutdown(socket.SHUT_WR)
            self._backend_write_shut = True
            progressed = True
        return progressed

    def _read_backend(self) -> bool:
        if not self._backend_open or len(self._to_client) >= BUFFER_LIMIT:
            return False
        try:
            data = self._backend.recv(READ_SIZE)
        except BlockingIOError:
            return False
        if data:
            self._to_client += data
        else:
            self._backend_open = False
        return True

    def _write_client(self) -> bool:
        if self._blocked_write is None and not self._to_client:
            return False
        chunk = self._blocked_write or bytes(self._to_client[:READ_SIZE])
        self._write_wants_read = False
        try:
            sent = self._tls.send(chunk)
        except SSL.WantWriteError:
            self._blocked_write = chunk
            return False
        except SSL.WantReadError:
            self._blocked_write = chunk
            self._write_wants_read = True
            return False
        self._blocked_write = None
        del self._to_client[:sent]
        return sent > 0

    def _close_tls(self) -> None:
        try:
            self._tls.shutdown()
        except (SSL.Error, OSError):
            pass
