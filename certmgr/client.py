"""A Python client of the certificate-manager HTTP API, used by ``grep11-certmgr``."""

import json
import ssl
from typing import Optional
from urllib.parse import quote, urlsplit

import httpx

from certmgr import iam, signing
from certmgr.policy import ADMIN_HEADER

DEFAULT_TIMEOUT_SECONDS = 30.0


class ClientError(Exception):
    """The base class of the client's errors."""


class ConnectionFailed(ClientError):
    """The endpoint could not be reached, or its TLS certificate was not trusted."""


class RequestRejected(ClientError):
    """The server responded with an error status; ``code`` is its machine-readable reason."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{message} (HTTP {status}, {code})")
        self.status = status
        self.code = code
        self.message = message


class CertMgrClient:
    """Calls the certificate manager at ``endpoint`` as one administrator.

    ``cacert`` is a PEM file of CAs to trust instead of the system store. With ``apikey`` the
    client first exchanges it for an IAM token at ``<endpoint>/identity/token``; ``admin``
    names the administrator while the server runs without IAM.
    """

    def __init__(
        self,
        endpoint: str,
        cacert: Optional[str] = None,
        apikey: Optional[str] = None,
        admin: Optional[str] = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ):
        self.endpoint = endpoint.rstrip("/")
        parts = urlsplit(self.endpoint)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"the endpoint {endpoint} is not an http:// or https:// URL")
        self.host_port = parts.netloc
        self._path_prefix = parts.path.rstrip("/")
        self._apikey = apikey
        self._admin = admin
        self._token: Optional[str] = None
        verify = ssl.create_default_context(cafile=cacert) if cacert else True
        self._http = httpx.Client(verify=verify, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "CertMgrClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- operations

    def set_admin_key(self, key_id: str, public_key_pem: str) -> dict:
        return self._call("POST", "/v1/admin-key",
                          {"key_id": key_id, "public_key": public_key_pem})

    def get_admin_key(self) -> dict:
        return self._call("GET", "/v1/admin-key")

    def update_admin_key(self, current_key, key_id: str, public_key_pem: str) -> dict:
        return self._call("PUT", "/v1/admin-key", {"key_id": key_id, "public_key": public_key_pem},
                          signing_key=current_key)

    def delete_admin_key(self, current_key) -> dict:
        return self._call("DELETE", "/v1/admin-key", signing_key=current_key)

    def set_certificate(self, key, cert_id: str, pem: str) -> dict:
        return self._call("PUT", f"/v1/certs/{quote(cert_id, safe='')}", {"pem": pem},
                          signing_key=key)

    def get_certificate(self, cert_id: str) -> dict:
        return self._call("GET", f"/v1/certs/{quote(cert_id, safe='')}")

    def list_certificates(self) -> dict:
        return self._call("GET", "/v1/certs")

    def delete_certificate(self, key, cert_id: str) -> dict:
        return self._call("DELETE", f"/v1/certs/{quote(cert_id, safe='')}", signing_key=key)

    def fetch_token(self) -> str:
        """Exchange the API key for an access token in the form-body style of the Go client."""
        response = self._send(
            "POST",
            "/identity/token",
            content=f"grant_type={iam.GRANT_TYPE_APIKEY}&apikey={quote(self._apikey or '')}",
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json"},
        )
        document = _json(response)
        if response.status_code != 200:
            if response.status_code == 404:
                raise RequestRejected(404, "iam_off", "the server runs without IAM; leave out "
                                      "--apikey and GREP11_CERTMGR_APIKEY")
            raise RequestRejected(
                response.status_code,
                str(document.get("errorCode", "token_error")),
                f"the API key was rejected: {document.get('errorMessage', response.text)}",
            )
        return document["access_token"]

    # --- transport

    def _call(self, method: str, path: str, body: Optional[dict] = None,
              signing_key=None) -> dict:
        full_path = self._path_prefix + path
        content = json.dumps(body).encode("utf-8") if body is not None else b""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._apikey:
            if self._token is None:
                self._token = self.fetch_token()
            headers["Authorization"] = f"Bearer {self._token}"
        elif self._admin:
            headers[ADMIN_HEADER] = self._admin
        if signing_key is not None:
            headers.update(signing.sign_request(signing_key, method, full_path, content))
        response = self._send(method, path, content=content, headers=headers)
        document = _json(response)
        if response.status_code >= 400:
            raise RequestRejected(
                response.status_code,
                str(document.get("error", "http_error")),
                str(document.get("message", response.text or response.reason_phrase)),
            )
        return document

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return self._http.request(method, self.endpoint + path, **kwargs)
        except httpx.ConnectError as error:
            raise ConnectionFailed(_connect_message(self.host_port, error)) from error
        except httpx.TimeoutException as error:
            raise ConnectionFailed(
                f"the request to the certificate manager at {self.host_port} timed out: {error}"
            ) from error
        except httpx.HTTPError as error:
            raise ConnectionFailed(
                f"the request to {self.host_port} failed: {error}"
            ) from error


def _json(response: httpx.Response) -> dict:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _connect_message(host_port: str, error: Exception) -> str:
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            f"the TLS certificate of {host_port} is not trusted ({text}); pass the emulator's "
            "CA file with --cacert (ca_cert in the ready file)"
        )
    return f"cannot connect to the certificate manager at {host_port}: {text}"
