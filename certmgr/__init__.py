"""Certificate manager: admin signature keys, client CA certificates, the mTLS trust store, the
emulated IAM token endpoint, and the ``grep11-certmgr`` CLI.

This package never imports ``grpc_server`` or ``ep11core``. The GREP11 side uses it through
these names:

``certmgr.store.CertificateStore(path)``
    The SQLite store (WAL, schema version in ``PRAGMA user_version``, one transaction per
    change). Several processes and threads may open one file. Opening raises
    ``certmgr.store.StoreError`` (``StoreSchemaError`` for a file of a newer schema or of another
    application), ``sqlite3.Error`` or ``OSError``.

    - ``trusted_ca_certificates() -> TrustSnapshot``: frozen dataclass with ``version: int`` and
      ``certificates: tuple[bytes, ...]``, the PEM of every administrator's CA certificates (the
      trust store is their union; equal certificates appear once).
    - ``change_version() -> int``: the same counter, increased by every CA certificate change;
      one ``PRAGMA data_version`` query while nothing changed, cheap enough for every call.
    - ``close()``.

``certmgr.iam``
    - ``IAMConfig.load(path)``: the API-keys file, a JSON list of
      ``{"apikey": ..., "name": ..., "roles": [...]}`` with roles among ``Reader``, ``Writer``,
      ``Manager`` and ``Certificate Manager``; raises ``IAMError`` (reason ``"config"``).
    - ``TokenService(config, signing_key: bytes, lifetime_seconds=3600, clock=time.time)``
      issues HS256 JWTs. ``signing_key`` needs at least 32 bytes.
    - ``TokenService.issue(apikey) -> dict``: the token response body with ``access_token``,
      ``refresh_token``, ``token_type`` ("Bearer"), ``expires_in`` and ``expiration``. An
      unknown key raises ``IAMError`` with reason ``"unknown_apikey"``.
    - ``TokenService.verify(token) -> Identity``: a frozen dataclass with ``name``,
      ``roles: frozenset[str]`` and ``expires_at``. A bad token raises ``IAMError`` with reason
      ``"expired"`` or ``"invalid"``.

``certmgr.http``
    - ``create_app(store, token_service=None) -> FastAPI``: the certificate-manager API under
      ``/v1`` and, when ``token_service`` is given, ``GET``/``POST /identity/token``. Without a
      token service IAM is off: the token endpoint is 404 and the API needs no token.
    - ``serve_in_thread(app, host, port, certfile, keyfile) -> ServerHandle``: uvicorn over TLS
      in a daemon thread; ``handle.port`` is the bound port (0 picks one), ``handle.stop()``
      ends it within about two seconds. A busy port raises ``OSError``.

Modules: ``store`` (SQLite), ``policy`` (limits, ID rules, CA certificate checks), ``signing``
(admin keys and signed requests), ``iam`` (API keys and tokens), ``service`` (the eight
operations and their audit rows), ``models`` and ``http`` (the HTTP API), ``client``,
``output`` and ``cli`` (``grep11-certmgr``).
"""
