"""The certificate-manager HTTPS API on a real uvicorn server: every route, accepted and rejected.

These servers run without IAM, so the ``X-Certmgr-Admin`` header names the administrator.
"""

import datetime
import json
import logging
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from certmgr import signing
from certmgr.http import SERVER_LOGGER_NAME
from certmgr_support import (  # noqa: F401 - fixtures
    UTC,
    admin_headers,
    certmgr_server,
    error_of,
    make_certificate,
    register_admin,
    rsa_key,
    signed_call,
    start_server,
    tls_files,
)


@pytest.fixture
def client(certmgr_server):
    with certmgr_server.http() as http:
        yield http


def put_cert(client, key, cert_id, pem, admin=None, **options):
    return signed_call(client, key, "PUT", f"/v1/certs/{cert_id}", {"pem": pem},
                       headers=admin_headers(admin), **options)


def delete_cert(client, key, cert_id, admin=None, **options):
    return signed_call(client, key, "DELETE", f"/v1/certs/{cert_id}",
                       headers=admin_headers(admin), **options)


def assert_store_unchanged(server, version=0, count=0):
    assert server.store.change_version() == version
    assert server.store.certificate_count() == count


# --- schema and generic errors


def test_openapi_lists_every_route(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/v1/admin-key"]) == {"post", "get", "put", "delete"}
    assert set(paths["/v1/certs/{cert_id}"]) == {"put", "get", "delete"}
    assert set(paths["/v1/certs"]) == {"get"}
    assert "/identity/token" not in paths


def test_unknown_route_is_json_404(client):
    response = client.get("/v2/nothing")
    assert response.status_code == 404
    assert error_of(response) == "not_found"


def test_wrong_method_is_json_405(client):
    response = client.post("/v1/certs")
    assert response.status_code == 405
    assert error_of(response) == "method_not_allowed"


def test_oversized_body_is_413(client, certmgr_server):
    key = register_admin(client)
    response = put_cert(client, key, "big", "x" * 200_000)
    assert response.status_code == 413
    assert error_of(response) == "body_too_large"
    assert_store_unchanged(certmgr_server)


def test_malformed_json_is_422(client):
    response = client.post("/v1/admin-key", content=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert error_of(response) == "invalid_request"
    assert response.json()["details"]


def test_invalid_admin_header_is_400(client):
    response = client.get("/v1/certs", headers={"X-Certmgr-Admin": "bad name!"})
    assert response.status_code == 400
    assert error_of(response) == "invalid_admin_name"


# --- admin keys


def test_admin_key_set_and_get(client, certmgr_server):
    key = signing.generate_admin_key()
    key_id = str(uuid.uuid4())
    response = client.post("/v1/admin-key",
                           json={"key_id": key_id, "public_key": signing.public_key_pem(key)})
    assert response.status_code == 201
    body = response.json()
    assert body["key_id"] == key_id
    assert body["admin"] == "admin"
    assert body["algorithm"] == "ECDSA P-521"

    response = client.get("/v1/admin-key")
    assert response.status_code == 200
    assert response.json()["public_key"] == signing.public_key_pem(key)
    events = [event.action for event in certmgr_server.store.audit_events()]
    assert events == ["hs-crypto.mtlscert-admin-key.create", "hs-crypto.mtlscert-admin-key.read"]


def test_admin_key_set_twice_is_409(client):
    register_admin(client)
    response = client.post("/v1/admin-key", json={
        "key_id": str(uuid.uuid4()),
        "public_key": signing.public_key_pem(signing.generate_admin_key()),
    })
    assert response.status_code == 409
    assert error_of(response) == "admin_key_exists"
    assert "adminkey update" in response.json()["message"]


def test_admin_key_get_without_key_is_404(client):
    response = client.get("/v1/admin-key")
    assert response.status_code == 404
    assert error_of(response) == "admin_key_not_found"


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()])
def test_admin_key_accepts_other_nist_curves(client, curve):
    key = register_admin(client, key=ec.generate_private_key(curve))
    response = put_cert(client, key, "ca", make_certificate("curve CA").pem)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "public_key",
    ["not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"],
    ids=["text", "garbage-der"],
)
def test_admin_key_rejects_bad_public_key(client, public_key):
    response = client.post("/v1/admin-key",
                           json={"key_id": str(uuid.uuid4()), "public_key": public_key})
    assert response.status_code == 400
    assert error_of(response) == "invalid_public_key"


def test_admin_key_rejects_rsa_and_ed25519(client):
    for private in (rsa_key(2048), ed25519.Ed25519PrivateKey.generate()):
        pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        response = client.post("/v1/admin-key",
                               json={"key_id": str(uuid.uuid4()), "public_key": pem})
        assert response.status_code == 400
        assert error_of(response) == "invalid_public_key"
        assert "P-521" in response.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"key_id": "not-a-uuid", "public_key": "x"},
        {"public_key": "x"},
        {"key_id": str(uuid.UUID(int=1))},
        {"key_id": str(uuid.UUID(int=1)), "public_key": "x", "extra": 1},
        [],
    ],
    ids=["bad-uuid", "no-key-id", "no-public-key", "extra-field", "list"],
)
def test_admin_key_body_schema(client, body):
    response = client.post("/v1/admin-key", json=body)
    assert response.status_code == 422
    assert error_of(response) == "invalid_request"


def test_admin_key_update_rotates(client):
    old = register_admin(client)
    new = signing.generate_admin_key()
    new_id = str(uuid.uuid4())
    response = signed_call(client, old, "PUT", "/v1/admin-key",
                           {"key_id": new_id, "public_key": signing.public_key_pem(new)})
    assert response.status_code == 200, response.text
    assert response.json()["key_id"] == new_id

    # The old key no longer signs; the new one does.
    ca = make_certificate("rotation CA").pem
    assert put_cert(client, old, "ca", ca).status_code == 401
    assert put_cert(client, new, "ca", ca).status_code == 201


def test_admin_key_update_with_wrong_key_is_401(client):
    register_admin(client)
    intruder = signing.generate_admin_key()
    response = signed_call(client, intruder, "PUT", "/v1/admin-key",
                           {"key_id": str(uuid.uuid4()),
                            "public_key": signing.public_key_pem(intruder)})
    assert response.status_code == 401
    assert error_of(response) == "invalid_signature"


def test_admin_key_update_unsigned_is_401(client):
    key = register_admin(client)
    response = client.put("/v1/admin-key", json={"key_id": str(uuid.uuid4()),
                                                 "public_key": signing.public_key_pem(key)})
    assert response.status_code == 401
    assert error_of(response) == "missing_signature"


def test_signed_call_without_admin_key_is_403(client, certmgr_server):
    key = signing.generate_admin_key()
    response = put_cert(client, key, "ca", make_certificate("no key CA").pem)
    assert response.status_code == 403
    assert error_of(response) == "admin_key_not_set"
    assert "adminkey set" in response.json()["message"]
    assert_store_unchanged(certmgr_server)


def test_admin_key_delete_keeps_certificates(client, certmgr_server):
    key = register_admin(client)
    assert put_cert(client, key, "ca", make_certificate("kept CA").pem).status_code == 201
    response = signed_call(client, key, "DELETE", "/v1/admin-key")
    assert response.status_code == 200
    assert response.json()["certificates_kept"] == 1
    assert client.get("/v1/admin-key").status_code == 404
    # Reads still work and the certificate stays trusted.
    assert [c["cert_id"] for c in client.get("/v1/certs").json()["certificates"]] == ["ca"]
    assert len(certmgr_server.store.trusted_ca_certificates().certificates) == 1
    # A new key can delete it again.
    new_key = register_admin(client)
    assert delete_cert(client, new_key, "ca").status_code == 200
    assert certmgr_server.store.trusted_ca_certificates().certificates == ()


# --- certificates


def test_cert_set_get_list_delete(client, certmgr_server):
    key = register_admin(client)
    ca = make_certificate("flow CA")
    response = put_cert(client, key, "flow-ca", ca.pem)
    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True
    assert body["subject"] == "CN=flow CA"
    assert body["pem"] == ca.pem
    assert certmgr_server.store.change_version() == 1

    response = client.get("/v1/certs/flow-ca")
    assert response.status_code == 200
    assert response.json()["pem"] == ca.pem
    listing = client.get("/v1/certs").json()
    assert listing["admin"] == "admin"
    assert [c["cert_id"] for c in listing["certificates"]] == ["flow-ca"]

    replacement = make_certificate("replacement CA")
    response = put_cert(client, key, "flow-ca", replacement.pem)
    assert response.status_code == 200
    assert response.json()["created"] is False
    assert certmgr_server.store.trusted_ca_certificates().certificates == (
        replacement.pem.encode(),
    )

    response = delete_cert(client, key, "flow-ca")
    assert response.status_code == 200
    assert response.json()["cert_id"] == "flow-ca"
    assert client.get("/v1/certs").json()["certificates"] == []
    assert certmgr_server.store.change_version() == 3
    actions = [event.action for event in certmgr_server.store.audit_events()]
    assert actions[1:] == [
        "hs-crypto.mtlscert-cert.set",
        "hs-crypto.mtlscert-cert.read",
        "hs-crypto.mtlscert-cert.list",
        "hs-crypto.mtlscert-cert.set",
        "hs-crypto.mtlscert-cert.delete",
        "hs-crypto.mtlscert-cert.list",
    ]


def test_cert_pem_is_normalised(client):
    key = register_admin(client)
    ca = make_certificate("CRLF CA")
    response = put_cert(client, key, "crlf", ca.pem.replace("\n", "\r\n") + "\r\n")
    assert response.status_code == 201
    assert response.json()["pem"] == ca.pem


def _now():
    return datetime.datetime.now(UTC)


REJECTED_CERTIFICATES = {
    "garbage": (lambda: "hello, world", "invalid_pem"),
    "bad-base64": (
        lambda: "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        "invalid_pem",
    ),
    "two-certificates": (
        lambda: make_certificate("one").pem + make_certificate("two").pem,
        "multiple_certificates",
    ),
    "ca-false": (lambda: make_certificate("leaf", ca=False).pem, "not_a_ca"),
    "no-basic-constraints": (lambda: make_certificate("bare", ca=None).pem, "not_a_ca"),
    "no-key-cert-sign": (
        lambda: make_certificate("no sign", key_cert_sign=False).pem,
        "no_key_cert_sign",
    ),
    "expired": (
        lambda: make_certificate(
            "old CA",
            not_before=_now() - datetime.timedelta(days=30),
            not_after=_now() - datetime.timedelta(days=1),
        ).pem,
        "expired",
    ),
    "not-yet-valid": (
        lambda: make_certificate(
            "future CA",
            not_before=_now() + datetime.timedelta(days=1),
            not_after=_now() + datetime.timedelta(days=30),
        ).pem,
        "not_yet_valid",
    ),
    "rsa-1024": (lambda: make_certificate("weak CA", key=rsa_key(1024)).pem, "unsupported_key"),
}


@pytest.mark.parametrize("case", sorted(REJECTED_CERTIFICATES))
def test_cert_set_rejects(client, certmgr_server, case):
    make_pem, code = REJECTED_CERTIFICATES[case]
    key = register_admin(client)
    response = put_cert(client, key, "rejected", make_pem())
    assert response.status_code == 400
    assert error_of(response) == code
    assert_store_unchanged(certmgr_server)
    failure = certmgr_server.store.audit_events()[-1]
    assert failure.action == "hs-crypto.mtlscert-cert.set"
    assert failure.outcome == "failure"
    assert failure.reason_code == 400


def test_cert_set_accepts_rsa_2048(client):
    key = register_admin(client)
    response = put_cert(client, key, "rsa", make_certificate("RSA CA", key=rsa_key(2048)).pem)
    assert response.status_code == 201


def test_cert_set_rejects_too_long_pem(client, certmgr_server):
    key = register_admin(client)
    response = put_cert(client, key, "long", "A" * 40_000)
    assert response.status_code == 422
    assert "32768" in response.json()["message"]
    assert_store_unchanged(certmgr_server)


@pytest.mark.parametrize("cert_id", ["-leading-dash", "a" * 129, "has%20space", "semi;colon"])
def test_cert_id_rules(client, certmgr_server, cert_id):
    key = register_admin(client)
    response = put_cert(client, key, cert_id, make_certificate("id CA").pem)
    assert response.status_code in (401, 422)
    assert_store_unchanged(certmgr_server)
    response = client.get(f"/v1/certs/{cert_id}")
    assert response.status_code in (404, 422)


def test_unknown_cert_id_is_404(client):
    key = register_admin(client)
    response = client.get("/v1/certs/missing")
    assert response.status_code == 404
    assert error_of(response) == "certificate_not_found"
    response = delete_cert(client, key, "missing")
    assert response.status_code == 404
    assert error_of(response) == "certificate_not_found"


def test_certificate_count_limit(client, certmgr_server, monkeypatch):
    from certmgr import policy

    monkeypatch.setattr(policy, "MAX_CERTIFICATES_PER_ADMIN", 2)
    key = register_admin(client)
    ca = make_certificate("limit CA").pem
    assert put_cert(client, key, "one", ca).status_code == 201
    assert put_cert(client, key, "two", ca).status_code == 201
    response = put_cert(client, key, "three", ca)
    assert response.status_code == 409
    assert error_of(response) == "limit_reached"
    assert put_cert(client, key, "two", ca).status_code == 200
    assert certmgr_server.store.certificate_count() == 2


# --- signatures


def test_forged_signature_is_rejected(client, certmgr_server):
    register_admin(client)
    forger = signing.generate_admin_key()
    response = put_cert(client, forger, "forged", make_certificate("forged CA").pem)
    assert response.status_code == 401
    assert error_of(response) == "invalid_signature"
    assert_store_unchanged(certmgr_server)


def test_tampered_body_is_rejected(client, certmgr_server):
    key = register_admin(client)
    content = json.dumps({"pem": make_certificate("signed CA").pem}).encode()
    headers = signing.sign_request(key, "PUT", "/v1/certs/ca", content)
    other = json.dumps({"pem": make_certificate("swapped CA").pem}).encode()
    response = client.put("/v1/certs/ca", content=other,
                          headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 401
    assert error_of(response) == "invalid_signature"
    assert_store_unchanged(certmgr_server)


def test_signature_bound_to_path_and_method(client, certmgr_server):
    key = register_admin(client)
    assert put_cert(client, key, "keep", make_certificate("keep CA").pem).status_code == 201
    headers = signing.sign_request(key, "DELETE", "/v1/certs/other", b"")
    response = client.delete("/v1/certs/keep", headers=headers)
    assert response.status_code == 401
    headers = signing.sign_request(key, "PUT", "/v1/certs/keep", b"")
    response = client.delete("/v1/certs/keep", headers=headers)
    assert response.status_code == 401
    assert certmgr_server.store.certificate_count() == 1


def test_replayed_request_is_rejected(client, certmgr_server):
    key = register_admin(client)
    content = json.dumps({"pem": make_certificate("replay CA").pem}).encode()
    headers = {**signing.sign_request(key, "PUT", "/v1/certs/ca", content),
               "Content-Type": "application/json"}
    first = client.put("/v1/certs/ca", content=content, headers=headers)
    assert first.status_code == 201
    second = client.put("/v1/certs/ca", content=content, headers=headers)
    assert second.status_code == 401
    assert error_of(second) == "replayed_nonce"
    assert certmgr_server.store.change_version() == 1


def test_failed_request_consumes_its_nonce(client, certmgr_server):
    """A signed delete that found nothing must not succeed when replayed later."""
    key = register_admin(client)
    headers = signing.sign_request(key, "DELETE", "/v1/certs/later", b"")
    assert client.delete("/v1/certs/later", headers=headers).status_code == 404
    assert put_cert(client, key, "later", make_certificate("later CA").pem).status_code == 201
    replay = client.delete("/v1/certs/later", headers=headers)
    assert replay.status_code == 401
    assert error_of(replay) == "replayed_nonce"
    assert certmgr_server.store.certificate_count() == 1


@pytest.mark.parametrize("offset", [-signing.TIMESTAMP_WINDOW_SECONDS - 60,
                                    signing.TIMESTAMP_WINDOW_SECONDS + 60])
def test_stale_timestamp_is_rejected(client, certmgr_server, offset):
    key = register_admin(client)
    response = put_cert(client, key, "stale", make_certificate("stale CA").pem,
                        timestamp=int(time.time()) + offset)
    assert response.status_code == 401
    assert error_of(response) == "stale_timestamp"
    assert_store_unchanged(certmgr_server)


def test_timestamp_inside_window_is_accepted(client):
    key = register_admin(client)
    response = put_cert(client, key, "recent", make_certificate("recent CA").pem,
                        timestamp=int(time.time()) - 200)
    assert response.status_code == 201


@pytest.mark.parametrize(
    "header, value",
    [
        (signing.SIGNATURE_HEADER, "***not base64***"),
        (signing.NONCE_HEADER, "short"),
        (signing.NONCE_HEADER, "has spaces in it, sadly"),
        (signing.TIMESTAMP_HEADER, "yesterday"),
        (signing.SIGNATURE_HEADER, "A" * 400),
    ],
)
def test_malformed_signature_headers(client, certmgr_server, header, value):
    key = register_admin(client)
    headers = signing.sign_request(key, "DELETE", "/v1/certs/x", b"")
    headers[header] = value
    response = client.delete("/v1/certs/x", headers=headers)
    assert response.status_code == 401
    assert error_of(response) == "invalid_signature_headers"


# --- several administrators


def test_two_administrators_keep_their_own_certificates(client, certmgr_server):
    alice = register_admin(client, "alice")
    bob = register_admin(client, "bob")
    alice_ca = make_certificate("alice CA")
    bob_ca = make_certificate("bob CA")
    assert put_cert(client, alice, "ca", alice_ca.pem, admin="alice").status_code == 201
    assert put_cert(client, bob, "ca", bob_ca.pem, admin="bob").status_code == 201
    assert put_cert(client, bob, "bob-only", bob_ca.pem, admin="bob").status_code == 201

    def listed(admin):
        response = client.get("/v1/certs", headers=admin_headers(admin))
        return {c["cert_id"]: c["pem"] for c in response.json()["certificates"]}

    assert listed("alice") == {"ca": alice_ca.pem}
    assert listed("bob") == {"ca": bob_ca.pem, "bob-only": bob_ca.pem}
    # Each administrator reaches only its own IDs.
    response = client.get("/v1/certs/bob-only", headers=admin_headers("alice"))
    assert response.status_code == 404
    response = delete_cert(client, alice, "bob-only", admin="alice")
    assert response.status_code == 404
    # Alice's key does not sign for Bob.
    response = delete_cert(client, alice, "ca", admin="bob")
    assert response.status_code == 401
    # The trust store is the union, with Bob's duplicate PEM once.
    snapshot = certmgr_server.store.trusted_ca_certificates()
    assert set(snapshot.certificates) == {alice_ca.pem.encode(), bob_ca.pem.encode()}
    # Removing every administrator's certificates empties it.
    assert delete_cert(client, alice, "ca", admin="alice").status_code == 200
    assert certmgr_server.store.trusted_ca_certificates().certificates != ()
    assert delete_cert(client, bob, "ca", admin="bob").status_code == 200
    assert delete_cert(client, bob, "bob-only", admin="bob").status_code == 200
    assert certmgr_server.store.trusted_ca_certificates().certificates == ()


def test_store_consistent_after_flows(client, certmgr_server):
    key = register_admin(client)
    for index in range(5):
        put_cert(client, key, f"c{index}", make_certificate(f"CA {index}").pem)
    delete_cert(client, key, "c2")
    assert certmgr_server.store.integrity_problems() == []
    assert certmgr_server.store.certificate_count() == 4
    assert certmgr_server.store.change_version() == 6


# --- logging


UVICORN_LINES = ("Started server process", "Shutting down", "Finished server process")


def start_and_stop(tmp_path, tls_files):
    server, handle = start_server(tmp_path, tls_files, with_iam=False)
    handle.stop()
    server.store.close()


def test_server_lines_use_project_logger(tmp_path, tls_files, caplog):
    caplog.set_level(logging.INFO)
    start_and_stop(tmp_path, tls_files)

    for line in UVICORN_LINES:
        records = [record for record in caplog.records if record.getMessage().startswith(line)]
        assert len(records) == 1, f"{line!r}: {[record.name for record in records]}"
        assert records[0].name == SERVER_LOGGER_NAME
        assert records[0].levelno == logging.INFO
    assert not [record for record in caplog.records if record.name.startswith("uvicorn")]

    # Records of uvicorn.error from other threads, such as another uvicorn server, keep their name.
    logging.getLogger("uvicorn.error").info("from another uvicorn server")
    assert caplog.records[-1].name == "uvicorn.error"


def test_server_lines_follow_project_level(tmp_path, tls_files, caplog):
    caplog.set_level(logging.INFO)
    # caplog.set_level with a logger name would raise its handler's level as well.
    server_logger = logging.getLogger(SERVER_LOGGER_NAME)
    server_logger.setLevel(logging.WARNING)
    try:
        start_and_stop(tmp_path, tls_files)
    finally:
        server_logger.setLevel(logging.NOTSET)

    messages = [record.getMessage() for record in caplog.records]
    for line in UVICORN_LINES:
        assert not [message for message in messages if message.startswith(line)]
    assert any("certificate-manager HTTPS server listening" in message for message in messages)
