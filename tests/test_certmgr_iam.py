"""The emulated IAM: API-keys file, tokens, the token endpoint in both client styles, and the
Certificate Manager role on the certificate-manager API."""

import base64
import json
import time

import pytest

from certmgr import iam
from certmgr_support import (  # noqa: F401 - fixtures
    TOKEN_SIGNING_KEY,
    certmgr_iam_server,
    certmgr_server,
    error_of,
    make_certificate,
    register_admin,
    signed_call,
    tls_files,
)

GRANT = iam.GRANT_TYPE_APIKEY


def token_service(clock=time.time, lifetime=3600) -> iam.TokenService:
    config = iam.IAMConfig.from_document(
        [{"apikey": "key-1", "name": "alice", "roles": ["Reader", "Certificate Manager"]}]
    )
    return iam.TokenService(config, TOKEN_SIGNING_KEY, lifetime_seconds=lifetime, clock=clock)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def token_for(client, apikey: str) -> str:
    response = client.post("/identity/token", content=f"grant_type={GRANT}&apikey={apikey}",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def client(certmgr_iam_server):
    with certmgr_iam_server.http() as http:
        yield http


# --- API-keys file


def test_config_load(tmp_path):
    path = tmp_path / "apikeys.json"
    path.write_text(json.dumps([
        {"apikey": "k1", "name": "alice", "roles": ["Reader"]},
        {"apikey": "k2", "name": "alice", "roles": []},
    ]))
    config = iam.IAMConfig.load(str(path))
    assert config.lookup("k1").roles == frozenset({"Reader"})
    assert config.lookup("k2").name == "alice"
    with pytest.raises(iam.IAMError) as raised:
        config.lookup("k3")
    assert raised.value.reason == "unknown_apikey"


@pytest.mark.parametrize(
    "document, message",
    [
        ({"apikey": "k"}, "list"),
        (["k"], "object"),
        ([{"apikey": "k", "name": "a", "roles": ["Admin"]}], "unknown role"),
        ([{"apikey": "k", "name": "a", "roles": "Reader"}], "list of role names"),
        ([{"apikey": "k", "roles": []}], "name"),
        ([{"apikey": "", "name": "a", "roles": []}], "apikey"),
        ([{"apikey": "has space", "name": "a", "roles": []}], "apikey"),
        ([{"apikey": "k", "name": "a b", "roles": []}], "name"),
        ([{"apikey": "k", "name": "a", "roles": [], "extra": 1}], "unknown field"),
        ([{"apikey": "k", "name": "a", "roles": []}, {"apikey": "k", "name": "b", "roles": []}],
         "more than once"),
    ],
)
def test_config_rejects(tmp_path, document, message):
    path = tmp_path / "apikeys.json"
    path.write_text(json.dumps(document))
    with pytest.raises(iam.IAMError, match=message) as raised:
        iam.IAMConfig.load(str(path))
    assert raised.value.reason == "config"


def test_config_unreadable(tmp_path):
    with pytest.raises(iam.IAMError, match="cannot read"):
        iam.IAMConfig.load(str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(iam.IAMError, match="not JSON"):
        iam.IAMConfig.load(str(broken))


# --- tokens


def test_issue_and_verify():
    service = token_service()
    body = service.issue("key-1")
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in",
                         "expiration"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert abs(body["expiration"] - (time.time() + 3600)) < 5
    identity = service.verify(body["access_token"])
    assert identity.name == "alice"
    assert identity.roles == frozenset({"Reader", "Certificate Manager"})
    assert identity.expires_at == body["expiration"]


def test_unknown_apikey_raises():
    with pytest.raises(iam.IAMError) as raised:
        token_service().issue("nope")
    assert raised.value.reason == "unknown_apikey"


def test_token_expires():
    now = [1_000_000.0]
    service = token_service(clock=lambda: now[0], lifetime=60)
    token = service.issue("key-1")["access_token"]
    now[0] += 59
    assert service.verify(token).name == "alice"
    now[0] += 1
    with pytest.raises(iam.IAMError) as raised:
        service.verify(token)
    assert raised.value.reason == "expired"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "make_token",
    [
        lambda token: "not.a.jwt",
        lambda token: "nodots",
        lambda token: token + "x",
        lambda token: token.rsplit(".", 1)[0] + ".",
        # alg=none with the original claims and no signature.
        lambda token: _b64({"alg": "none", "typ": "JWT"}) + "." + token.split(".")[1] + ".",
        # Raised roles with the original signature.
        lambda token: ".".join([token.split(".")[0],
                                _b64({"iss": "grep11-emulator", "sub": "alice",
                                      "roles": ["Manager"], "exp": 2**40}),
                                token.split(".")[2]]),
        lambda token: "a" * 5000,
    ],
    ids=["garbage", "no-dots", "tampered-signature", "empty-signature", "alg-none",
         "tampered-claims", "too-long"],
)
def test_invalid_tokens(make_token):
    service = token_service()
    token = service.issue("key-1")["access_token"]
    with pytest.raises(iam.IAMError) as raised:
        service.verify(make_token(token))
    assert raised.value.reason == "invalid"


def test_token_from_other_key_is_invalid():
    token = token_service().issue("key-1")["access_token"]
    other = iam.TokenService(token_service().config, b"o" * 32)
    with pytest.raises(iam.IAMError) as raised:
        other.verify(token)
    assert raised.value.reason == "invalid"


def test_short_signing_key_raises():
    with pytest.raises(ValueError, match="32"):
        iam.TokenService(token_service().config, b"short")


# --- token endpoint


def test_token_form_body_style(client, certmgr_iam_server):
    # The Go client's form: values not URL-escaped, form content type.
    response = client.post(
        "/identity/token",
        content=f"grant_type={GRANT}&apikey=alice-key",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["expiration"], int)
    assert body["refresh_token"]
    identity = certmgr_iam_server.token_service.verify(body["access_token"])
    assert identity.name == "alice"


def test_token_query_string_style(client, certmgr_iam_server):
    # The JS client's form: parameters in the query string, empty body, no content type.
    response = client.post("/identity/token", params={"grant_type": GRANT, "apikey": "bob-key"},
                           headers={"Accept": "application/json"})
    assert response.status_code == 200
    identity = certmgr_iam_server.token_service.verify(response.json()["access_token"])
    assert identity.name == "bob"
    assert "errorCode" not in response.json()


def test_token_get_method(client):
    response = client.get("/identity/token", params={"grant_type": GRANT, "apikey": "bob-key"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "params, code",
    [
        ({"grant_type": GRANT, "apikey": "wrong"}, "unknown_apikey"),
        ({"grant_type": GRANT}, "invalid_request"),
        ({"apikey": "alice-key"}, "invalid_request"),
        ({"grant_type": "password", "apikey": "alice-key"}, "unsupported_grant_type"),
    ],
)
def test_token_rejections(client, params, code):
    response = client.post("/identity/token", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == code
    assert body["errorMessage"]


def test_token_body_needs_form_content_type(client):
    response = client.post("/identity/token", content=b'{"apikey": "alice-key"}',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_request"


def test_token_endpoint_absent_without_iam(certmgr_server):
    with certmgr_server.http() as http:
        response = http.post("/identity/token", params={"grant_type": GRANT, "apikey": "x"})
    assert response.status_code == 404


# --- the Certificate Manager role on the API


def test_missing_token_is_401(client):
    response = client.get("/v1/certs")
    assert response.status_code == 401
    assert error_of(response) == "missing_token"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer nonsense", "Basic YWxpY2U6cHc=", "Bearer"])
def test_invalid_token_is_401(client, header):
    response = client.get("/v1/certs", headers={"Authorization": header})
    assert response.status_code == 401
    assert error_of(response) == "invalid_token"


def test_expired_token_is_401(client, certmgr_iam_server):
    token = token_for(client, "alice-key")
    assert client.get("/v1/certs", headers=bearer(token)).status_code == 200
    certmgr_iam_server.clock.advance(3601)
    response = client.get("/v1/certs", headers=bearer(token))
    assert response.status_code == 401
    assert error_of(response) == "token_expired"


def test_wrong_role_is_403(client, certmgr_iam_server):
    token = token_for(client, "writer-key")
    response = client.get("/v1/certs", headers=bearer(token))
    assert response.status_code == 403
    assert error_of(response) == "missing_role"
    assert "Certificate Manager" in response.json()["message"]
    response = client.post("/v1/admin-key", headers=bearer(token),
                           json={"key_id": "00000000-0000-0000-0000-000000000000",
                                 "public_key": "x"})
    assert response.status_code == 403
    assert certmgr_iam_server.store.admin_count() == 0


def test_token_identity_is_the_administrator(client, certmgr_iam_server):
    alice = token_for(client, "alice-key")
    bob = token_for(client, "bob-key")
    alice_key = register_admin(client, headers=bearer(alice))
    register_admin(client, headers=bearer(bob))
    ca = make_certificate("alice IAM CA").pem
    # The X-Certmgr-Admin header is ignored while IAM is on.
    response = signed_call(client, alice_key, "PUT", "/v1/certs/ca", {"pem": ca},
                           headers={**bearer(alice), "X-Certmgr-Admin": "bob"})
    assert response.status_code == 201
    assert certmgr_iam_server.store.certificate("alice", "ca") is not None
    assert certmgr_iam_server.store.certificate("bob", "ca") is None
    listing = client.get("/v1/certs", headers=bearer(bob)).json()
    assert listing == {"admin": "bob", "certificates": []}
    assert client.get("/v1/admin-key", headers=bearer(alice)).json()["admin"] == "alice"
