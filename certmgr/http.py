"""The HTTPS face of the certificate manager: the REST API, the emulated IAM token endpoint, and
a uvicorn server in a background thread.

IBM publishes no protocol for the certificate-manager server, so the API is the emulator's own.
Every body is JSON; every error is ``{"error": <code>, "message": <text>}`` with a 4xx status
(503 when the store stays locked). The OpenAPI schema is served at ``/openapi.json``.

| operation | route | signed | success |
|---|---|---|---|
| adminkey set | ``POST /v1/admin-key`` | no | 201 |
| adminkey get | ``GET /v1/admin-key`` | no | 200 |
| adminkey update | ``PUT /v1/admin-key`` | with the current key | 200 |
| adminkey delete | ``DELETE /v1/admin-key`` | yes | 200 |
| cert set | ``PUT /v1/certs/{cert_id}`` | yes | 201 created, 200 replaced |
| cert get | ``GET /v1/certs/{cert_id}`` | no | 200 |
| cert list | ``GET /v1/certs`` | no | 200 |
| cert delete | ``DELETE /v1/certs/{cert_id}`` | yes | 200 |
| IAM token | ``GET`` or ``POST /identity/token`` | no | 200 (404 while IAM is off) |

A call acts on the key and certificates of one administrator. While IAM is on, that is the
``name`` of the API key behind the bearer token, and the token must carry the Certificate Manager
role: a missing, invalid or expired token gets 401, a token without the role 403. While IAM is
off, no token is needed and the ``X-Certmgr-Admin`` header names the administrator (default
``admin``). Signed requests are described in ``certmgr.signing``.
"""

import asyncio
import copy
import logging
import socket
import threading
import time
from typing import Annotated, Optional
from urllib.parse import parse_qs

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from certmgr import iam, policy, signing
from certmgr.models import (
    AdminKeyDeleteResponse,
    AdminKeyRequest,
    AdminKeyResponse,
    CertificateListResponse,
    CertificateRequest,
    CertificateResponse,
    CertificateSetResponse,
    ErrorBody,
    TokenErrorBody,
    TokenResponse,
)
from certmgr.service import CertificateManager, CertMgrError, SignedRequest
from certmgr.store import CertificateStore

logger = logging.getLogger(__name__)

DEFAULT_ADMIN = policy.DEFAULT_ADMIN
ADMIN_HEADER = policy.ADMIN_HEADER
# Larger request bodies are rejected with 413 before any parsing; a certificate PEM is at most
# policy.MAX_PEM_CHARS characters, and JSON escaping can double it.
MAX_BODY_BYTES = 4 * policy.MAX_PEM_CHARS
STARTUP_TIMEOUT_SECONDS = 10.0
# Requests still running at stop() get this long before they are cancelled.
SHUTDOWN_GRACE_SECONDS = 2

# The name of the bearer-token security scheme in the OpenAPI schema while IAM is on.
BEARER_SCHEME = "IAMBearerToken"

_ERRORS = {
    400: {"model": ErrorBody, "description": "invalid input; the body names the reason"},
    401: {"model": ErrorBody, "description": "missing, invalid or expired token or signature"},
    403: {"model": ErrorBody, "description": "missing role, or no admin key for a signed call"},
    404: {"model": ErrorBody, "description": "no such admin key or certificate"},
    409: {"model": ErrorBody, "description": "conflicts with the stored state or a limit"},
    413: {"model": ErrorBody, "description": "request body too large"},
    422: {"model": ErrorBody, "description": "the request does not match the schema"},
    503: {"model": ErrorBody, "description": "the store stayed locked; retry"},
}


# --- dependencies


def authenticated_admin(
    request: Request,
    admin_header: Annotated[
        Optional[str],
        Header(
            alias=ADMIN_HEADER,
            description="administrator name while IAM is off (default admin); ignored while "
            "IAM is on",
        ),
    ] = None,
) -> str:
    """Return the administrator a call acts for, after the IAM check when IAM is on."""
    token_service: Optional[iam.TokenService] = request.app.state.token_service
    if token_service is None:
        admin = DEFAULT_ADMIN if admin_header is None else admin_header
        if not policy.is_admin_name(admin):
            raise CertMgrError(
                400,
                "invalid_admin_name",
                f"{ADMIN_HEADER} must be 1 to 128 characters from A-Z a-z 0-9 . _ @ + -, "
                "starting with a letter or digit",
            )
        return admin

    authorization = request.headers.get("authorization")
    if not authorization:
        raise CertMgrError(
            401,
            "missing_token",
            "IAM is on: send 'Authorization: Bearer <token>' with a token from /identity/token",
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CertMgrError(
            401, "invalid_token", "the Authorization header must be 'Bearer <token>'"
        )
    try:
        identity = token_service.verify(token.strip())
    except iam.IAMError as error:
        code = "token_expired" if error.reason == "expired" else "invalid_token"
        raise CertMgrError(401, code, str(error)) from None
    if iam.ROLE_CERTIFICATE_MANAGER not in identity.roles:
        roles = ", ".join(sorted(identity.roles)) or "none"
        raise CertMgrError(
            403,
            "missing_role",
            f"{identity.name} lacks the {iam.ROLE_CERTIFICATE_MANAGER} role (roles: {roles})",
        )
    return identity.name


async def request_body(request: Request) -> bytes:
    # Starlette caches the body, so the JSON model and the signature read the same bytes.
    return await request.body()


def signed_request(
    request: Request,
    body: Annotated[bytes, Depends(request_body)],
    timestamp: Annotated[
        Optional[str], Header(alias=signing.TIMESTAMP_HEADER, description="Unix seconds")
    ] = None,
    nonce: Annotated[
        Optional[str],
        Header(alias=signing.NONCE_HEADER, description="16 to 64 of A-Z a-z 0-9 _ -"),
    ] = None,
    signature: Annotated[
        Optional[str],
        Header(alias=signing.SIGNATURE_HEADER, description="base64 DER ECDSA signature"),
    ] = None,
) -> SignedRequest:
    return SignedRequest(
        method=request.method,
        path=request.url.path,
        body=body,
        timestamp=timestamp,
        nonce=nonce,
        signature=signature,
    )


def manager(request: Request) -> CertificateManager:
    return request.app.state.manager


Admin = Annotated[str, Depends(authenticated_admin)]
Signed = Annotated[SignedRequest, Depends(signed_request)]
Manager = Annotated[CertificateManager, Depends(manager)]
CertId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=policy.CERT_ID_PATTERN,
        description="1 to 128 of A-Z a-z 0-9 . _ ~ -, starting with a letter or digit",
    ),
]


# --- certificate-manager routes

router = APIRouter(prefix="/v1", responses=_ERRORS)


def _admin_key_response(key) -> AdminKeyResponse:
    return AdminKeyResponse.from_store(key, signing.key_algorithm(key.public_key_pem))


@router.post("/admin-key", status_code=201, response_model=AdminKeyResponse,
             summary="adminkey set: register the caller's admin public key")
def set_admin_key(body: AdminKeyRequest, admin: Admin, service: Manager):
    return _admin_key_response(service.set_admin_key(admin, body.key_id, body.public_key))


@router.get("/admin-key", response_model=AdminKeyResponse,
            summary="adminkey get: the caller's admin public key")
def get_admin_key(admin: Admin, service: Manager):
    return _admin_key_response(service.get_admin_key(admin))


@router.put("/admin-key", response_model=AdminKeyResponse,
            summary="adminkey update: replace the admin key, signed with the current one")
def update_admin_key(body: AdminKeyRequest, admin: Admin, signed: Signed, service: Manager):
    key = service.update_admin_key(admin, signed, body.key_id, body.public_key)
    return _admin_key_response(key)


@router.delete("/admin-key", response_model=AdminKeyDeleteResponse,
               summary="adminkey delete: remove the admin key; certificates stay trusted")
def delete_admin_key(admin: Admin, signed: Signed, service: Manager):
    deleted, kept = service.delete_admin_key(admin, signed)
    return AdminKeyDeleteResponse(admin=admin, key_id=deleted.key_id, certificates_kept=kept)


@router.get("/certs", response_model=CertificateListResponse,
            summary="cert list: the caller's CA certificates")
def list_certificates(admin: Admin, service: Manager):
    rows = service.list_certificates(admin)
    return CertificateListResponse(
        admin=admin, certificates=[CertificateResponse.from_store(row) for row in rows]
    )


@router.put("/certs/{cert_id}", response_model=CertificateSetResponse,
            responses={201: {"model": CertificateSetResponse, "description": "created"}},
            summary="cert set: create or replace a CA certificate (signed)")
def set_certificate(cert_id: CertId, body: CertificateRequest, admin: Admin, signed: Signed,
                    service: Manager, response: Response):
    row, created = service.set_certificate(admin, signed, cert_id, body.pem)
    response.status_code = 201 if created else 200
    return CertificateSetResponse(**CertificateResponse.from_store(row).model_dump(),
                                  created=created)


@router.get("/certs/{cert_id}", response_model=CertificateResponse,
            summary="cert get: one of the caller's CA certificates")
def get_certificate(cert_id: CertId, admin: Admin, service: Manager):
    return CertificateResponse.from_store(service.get_certificate(admin, cert_id))


@router.delete("/certs/{cert_id}", response_model=CertificateResponse,
               summary="cert delete: remove a CA certificate (signed)")
def delete_certificate(cert_id: CertId, admin: Admin, signed: Signed, service: Manager):
    return CertificateResponse.from_store(service.delete_certificate(admin, signed, cert_id))


# --- emulated IAM

_TOKEN_OPENAPI = {
    "parameters": [
        {"name": "grant_type", "in": "query", "required": False,
         "schema": {"type": "string", "example": iam.GRANT_TYPE_APIKEY}},
        {"name": "apikey", "in": "query", "required": False, "schema": {"type": "string"}},
    ],
    "requestBody": {
        "required": False,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "grant_type": {"type": "string", "example": iam.GRANT_TYPE_APIKEY},
                        "apikey": {"type": "string"},
                    },
                }
            }
        },
    },
}


def _token_error(code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=400, content={"errorCode": code, "errorMessage": message})


async def issue_token(request: Request):
    """Exchange an API key for an access token; parameters from a form body or the query."""
    parameters = {name: values[0] for name, values in parse_qs(
        request.url.query, keep_blank_values=True).items()}
    body = await request.body()
    if body:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/x-www-form-urlencoded":
            return _token_error(
                "invalid_request",
                "send grant_type and apikey as an application/x-www-form-urlencoded body or in "
                "the query string",
            )
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            return _token_error("invalid_request", "the form body is not valid UTF-8")
        parameters.update({name: values[0] for name, values in form.items()})

    grant_type = parameters.get("grant_type")
    if not grant_type:
        return _token_error("invalid_request", "the grant_type parameter is missing")
    if grant_type != iam.GRANT_TYPE_APIKEY:
        return _token_error(
            "unsupported_grant_type", f"only grant_type={iam.GRANT_TYPE_APIKEY} is supported"
        )
    apikey = parameters.get("apikey")
    if not apikey:
        return _token_error("invalid_request", "the apikey parameter is missing")
    try:
        return request.app.state.token_service.issue(apikey)
    except iam.IAMError as error:
        logger.info("token request with an unknown API key rejected")
        return _token_error("unknown_apikey", str(error))


# --- error handling


def _error_response(status: int, code: str, message: str, details=None,
                    headers=None) -> JSONResponse:
    body = {"error": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(status_code=status, content=body, headers=headers)


async def _certmgr_error(request: Request, error: CertMgrError) -> JSONResponse:
    level = logging.INFO if error.status in (401, 403) else logging.DEBUG
    if error.status >= 500:
        level = logging.WARNING
    logger.log(level, "%s %s rejected with %d %s: %s", request.method, request.url.path,
               error.status, error.code, error.message)
    headers = {"WWW-Authenticate": "Bearer"} if error.code in (
        "missing_token", "invalid_token", "token_expired") else None
    return _error_response(error.status, error.code, error.message, headers=headers)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    details = []
    for item in error.errors():
        location = ".".join(str(part) for part in item.get("loc", ()))
        details.append(f"{location}: {item.get('msg', 'invalid')}")
    return _error_response(422, "invalid_request",
                           "the request does not match the API schema: " + "; ".join(details),
                           details=details)


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
    return _error_response(error.status_code, codes.get(error.status_code, "http_error"),
                           str(error.detail), headers=getattr(error, "headers", None))


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unexpected failure on %s %s", request.method, request.url.path)
    return _error_response(500, "internal_error", "unexpected server failure; see the log")


class BodyLimitMiddleware:
    """Reject request bodies over ``max_bytes`` with 413 before the application reads them."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                response = _error_response(
                    413, "body_too_large",
                    f"the request body exceeds {self.max_bytes} bytes",
                )
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def create_app(store: CertificateStore, token_service: Optional[iam.TokenService] = None,
               clock=time.time) -> FastAPI:
    """Build the ASGI application over ``store``; IAM is on when ``token_service`` is given.

    ``clock`` (Unix seconds) drives the signature window and certificate validity checks.
    """
    app = FastAPI(
        title="grep11-emulator certificate manager",
        version="1",
        description=__doc__.split("\n\n")[1],
    )
    app.state.manager = CertificateManager(store, clock=clock)
    app.state.token_service = token_service
    app.include_router(router)
    if token_service is not None:
        for method in ("GET", "POST"):
            app.add_api_route(
                "/identity/token",
                issue_token,
                methods=[method],
                operation_id=f"issue_token_{method.lower()}",
                response_model=TokenResponse,
                responses={400: {"model": TokenErrorBody, "description": "rejected request"}},
                openapi_extra=_TOKEN_OPENAPI,
                summary="emulated IAM: exchange an API key for an access token",
            )
        app.openapi = lambda: _openapi_with_bearer(app)
    app.add_exception_handler(CertMgrError, _certmgr_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    return app


def _openapi_with_bearer(app: FastAPI) -> dict:
    """Return the OpenAPI schema with the bearer token required on every ``/v1`` operation.

    The requirement is added here rather than through a FastAPI security dependency, because the
    same routes serve without a token while IAM is off, and that schema must not declare one.
    """
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("securitySchemes", {})[BEARER_SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "access token from /identity/token; the Certificate Manager role "
            "is required",
        }
        for path, operations in schema["paths"].items():
            if path.startswith("/v1/"):
                for operation in operations.values():
                    operation["security"] = [{BEARER_SCHEME: []}]
        app.openapi_schema = schema
    return app.openapi_schema


# --- server in a thread

# uvicorn 0.55 logs its start and stop lines and its connection errors under "uvicorn.error",
# at every level. A filter on that logger hands each record from a thread of
# serve_in_thread, unchanged but for its name, to this logger instead, so the lines carry the
# project's name and follow its level and handlers. Records of other threads keep their name.
SERVER_LOGGER_NAME = "certmgr.http.server"
_THREAD_NAME_PREFIX = "certmgr-https-"
_UVICORN_LOGGER_NAME = "uvicorn.error"


class _ServerThreadRecords(logging.Filter):
    """Moves the ``uvicorn.error`` records of the server threads to ``SERVER_LOGGER_NAME``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.threadName or not record.threadName.startswith(_THREAD_NAME_PREFIX):
            return True
        target = logging.getLogger(SERVER_LOGGER_NAME)
        if target.isEnabledFor(record.levelno):
            renamed = copy.copy(record)
            renamed.name = SERVER_LOGGER_NAME
            target.handle(renamed)
        return False


_SERVER_THREAD_RECORDS = _ServerThreadRecords()


class ServerHandle:
    """A running uvicorn server; ``port`` is the bound port, ``stop()`` ends it."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int):
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, let running requests finish briefly, and join the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("the certificate-manager HTTP server did not stop in time")
                return
        logger.info("certificate-manager HTTPS server on %s stopped", self.address)


def serve_in_thread(app, host: str, port: int, certfile: str, keyfile: str) -> ServerHandle:
    """Serve ``app`` over HTTPS on ``host``:``port`` from a daemon thread.

    Port 0 picks a free port, readable from the returned handle. Binding happens before the
    call returns, so a busy port raises ``OSError`` here; an unreadable certificate or key
    raises ``ssl.SSLError`` or ``OSError``. Returns once the server accepts connections.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    config.load()
    # addFilter adds the same filter object only once.
    logging.getLogger(_UVICORN_LOGGER_NAME).addFilter(_SERVER_THREAD_RECORDS)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    listener.setblocking(False)
    bound_port = listener.getsockname()[1]

    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=_run_server,
        args=(server, listener),
        name=f"{_THREAD_NAME_PREFIX}{bound_port}",
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive():
            listener.close()
            raise RuntimeError("the certificate-manager HTTPS server failed to start; see log")
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(STARTUP_TIMEOUT_SECONDS)
            raise RuntimeError(
                f"the certificate-manager HTTPS server did not start in "
                f"{STARTUP_TIMEOUT_SECONDS:g} s"
            )
        time.sleep(0.01)
    handle = ServerHandle(server, thread, host, bound_port)
    logger.info("certificate-manager HTTPS server listening on %s", handle.address)
    return handle


def _run_server(server: uvicorn.Server, listener: socket.socket) -> None:
    try:
        asyncio.run(server.serve(sockets=[listener]))
    except BaseException:  # noqa: BLE001 - a thread must log its own end
        logger.exception("the certificate-manager HTTPS server stopped with an error")
    finally:
        listener.close()
