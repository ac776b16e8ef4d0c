"""The certificate manager's store, the IAM token service and the HTTPS app that serves both.

``grep11-emulator serve`` and the pytest plugin run these next to the GREP11 ports:

- the certificate store ``<state-dir>/certmgr.db`` (``certmgr.store.CertificateStore``), whose
  CA certificates form the trust store of the mutual-TLS checks (``grpc_server.clientcerts``);
- with ``--iam``, a ``certmgr.iam.TokenService`` over the API keys file, which signs tokens with
  the key in ``<state-dir>/iam-token-key``. The key is 32 random bytes made on the first start
  with IAM, mode 0600, and kept, so tokens issued before a restart stay valid until they expire;
- the certificate-manager HTTPS API and ``POST /identity/token`` (``certmgr.http``) on the HTTP
  port, with the server certificate of the TLS port.
"""

import logging
import os
import secrets
import sqlite3
from typing import Optional

from certmgr import http as certmgr_http
from certmgr.iam import IAMConfig, IAMError, TokenService
from certmgr.store import CertificateStore, StoreError

logger = logging.getLogger(__name__)

CERTIFICATE_DB_FILE = "certmgr.db"
IAM_KEY_FILE = "iam-token-key"
IAM_KEY_BYTES = 32


class AuthServicesError(Exception):
    """The certificate store, the IAM configuration or the IAM signing key is unusable."""


class HTTPStartError(Exception):
    """The HTTP port could not be bound."""


def load_or_create_signing_key(state_dir: str) -> bytes:
    """Return the IAM token signing key of ``state_dir``, creating it on first use.

    A new key is written to a temporary file with mode 0600 and linked into place, so two
    processes starting at once end up with the same key and no reader sees a partial file.
    """
    path = os.path.join(state_dir, IAM_KEY_FILE)
    if not os.path.exists(path):
        temporary = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(secrets.token_bytes(IAM_KEY_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
                logger.info("created IAM token signing key %s", path)
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
    with open(path, "rb") as handle:
        key = handle.read()
    if len(key) != IAM_KEY_BYTES:
        raise AuthServicesError(
            f"IAM token signing key {path} has {len(key)} bytes, expected {IAM_KEY_BYTES}: "
            "delete it to create a new one, which invalidates the tokens issued so far"
        )
    return key


class AuthServices:
    """The certificate store, the optional token service and the HTTPS app of one server."""

    def __init__(self, state_dir: str, iam_config_path: Optional[str] = None):
        self.state_dir = state_dir
        self.iam_config_path = iam_config_path
        self.certificate_store: Optional[CertificateStore] = None
        self.token_service: Optional[TokenService] = None
        self.http_port: Optional[int] = None
        self._http = None

    def open(self) -> None:
        """Open the certificate store and, with an IAM configuration, the token service."""
        path = os.path.join(self.state_dir, CERTIFICATE_DB_FILE)
        try:
            self.certificate_store = CertificateStore(path)
        except (StoreError, sqlite3.Error, OSError) as error:
            raise AuthServicesError(f"cannot open the certificate store {path}: {error}") from error
        if self.iam_config_path is None:
            return
        try:
            config = IAMConfig.load(self.iam_config_path)
            signing_key = load_or_create_signing_key(self.state_dir)
        except (IAMError, OSError, ValueError) as error:
            self.close()
            raise AuthServicesError(
                f"cannot turn on IAM with {self.iam_config_path}: {error}"
            ) from error
        self.token_service = TokenService(config, signing_key)

    def start_http(self, host: str, port: int, cert_path: str, key_path: str) -> int:
        """Serve the HTTPS app on ``host:port`` and return the bound port."""
        app = certmgr_http.create_app(self.certificate_store, token_service=self.token_service)
        try:
            self._http = certmgr_http.serve_in_thread(app, host, port, cert_path, key_path)
        except (OSError, RuntimeError) as error:
            raise HTTPStartError(f"cannot serve HTTPS on {host}:{port}: {error}") from error
        self.http_port = self._http.port
        return self.http_port

    def stop_http(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None

    def close(self) -> None:
        """Stop the HTTPS app and close the certificate store."""
        self.stop_http()
        if self.certificate_store is not None:
            self.certificate_store.close()
            self.certificate_store = None
