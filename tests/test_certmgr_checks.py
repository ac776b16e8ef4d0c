"""Signed-request canonical form, admin key checks, CA certificate checks and table output."""

import base64
import datetime
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils

from certmgr import policy, signing
from certmgr.output import render_banner, render_table
from certmgr_support import UTC, make_certificate, rsa_key

NOW = 1_700_000_000


def test_canonical_request_form():
    body = b'{"pem": "x"}'
    expected = (
        "grep11-certmgr-v1\nPUT\n/v1/certs/my-ca\n"
        f"{hashlib.sha256(body).hexdigest()}\n1700000000\nabcdefghijklmnop"
    ).encode()
    assert signing.canonical_request("put", "/v1/certs/my-ca", body, "1700000000",
                                     "abcdefghijklmnop") == expected


@pytest.mark.parametrize("curve, hash_type", [
    (ec.SECP256R1(), hashes.SHA256),
    (ec.SECP384R1(), hashes.SHA384),
    (ec.SECP521R1(), hashes.SHA512),
])
def test_signature_uses_curve_hash(curve, hash_type):
    key = ec.generate_private_key(curve)
    headers = signing.sign_request(key, "DELETE", "/v1/certs/a", b"", timestamp=NOW,
                                   nonce="n" * 20)
    signature = base64.b64decode(headers[signing.SIGNATURE_HEADER])
    message = signing.canonical_request("DELETE", "/v1/certs/a", b"", str(NOW), "n" * 20)
    # An independent verification with the documented hash.
    key.public_key().verify(signature, message, ec.ECDSA(hash_type()))
    utils.decode_dss_signature(signature)
    assert signing.verify_request(
        signing.public_key_pem(key), "DELETE", "/v1/certs/a", b"",
        headers[signing.TIMESTAMP_HEADER], headers[signing.NONCE_HEADER],
        headers[signing.SIGNATURE_HEADER], now=NOW,
    ) == NOW


@pytest.mark.parametrize("field", ["method", "path", "body", "timestamp", "nonce"])
def test_every_canonical_field_is_covered(field):
    key = signing.generate_admin_key()
    values = {"method": "PUT", "path": "/v1/certs/a", "body": b"{}", "timestamp": str(NOW),
              "nonce": "n" * 20}
    headers = signing.sign_request(key, values["method"], values["path"], values["body"],
                                   timestamp=NOW, nonce=values["nonce"])
    changed = dict(values)
    changed[field] = {"method": "POST", "path": "/v1/certs/b", "body": b"[]",
                      "timestamp": str(NOW + 1), "nonce": "m" * 20}[field]
    with pytest.raises(signing.SignatureRejected) as raised:
        signing.verify_request(signing.public_key_pem(key), changed["method"], changed["path"],
                               changed["body"], changed["timestamp"], changed["nonce"],
                               headers[signing.SIGNATURE_HEADER], now=NOW)
    assert raised.value.code == "invalid_signature"


def test_missing_signature_headers_are_named():
    with pytest.raises(signing.SignatureRejected) as raised:
        signing.verify_request("unused", "PUT", "/", b"", None, "n" * 20, None, now=NOW)
    assert raised.value.code == "missing_signature"
    assert signing.TIMESTAMP_HEADER in raised.value.message
    assert signing.SIGNATURE_HEADER in raised.value.message
    assert signing.NONCE_HEADER not in raised.value.message


def test_public_key_check():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = signing.public_key_pem(key)
    assert signing.check_public_key(pem.replace("\n", "\r\n")) == pem
    for other in (rsa_key(2048), ed25519.Ed25519PrivateKey.generate(),
                  ec.generate_private_key(ec.SECP256K1())):
        other_pem = other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        with pytest.raises(signing.AdminKeyRejected):
            signing.check_public_key(other_pem)
    with pytest.raises(signing.AdminKeyRejected, match="maximum"):
        signing.check_public_key("x" * 2000)


def test_private_key_loading(tmp_path):
    key = signing.generate_admin_key()
    assert signing.load_private_key(signing.private_key_pem(key)).curve.name == "secp521r1"
    encrypted = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(ValueError, match="encrypted"):
        signing.load_private_key(encrypted)
    rsa_pem = rsa_key(2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="not an EC key"):
        signing.load_private_key(rsa_pem)


def test_ca_check_accepts_and_normalises():
    ca = make_certificate("checked CA", key=rsa_key(2048))
    checked = policy.check_ca_certificate("\n\n" + ca.pem + "\n")
    assert checked.pem == ca.pem
    assert checked.subject == "CN=checked CA"
    assert checked.fingerprint_sha256 == ca.certificate.fingerprint(hashes.SHA256()).hex()


def test_ca_check_validity_uses_given_time():
    now = datetime.datetime.now(UTC)
    ca = make_certificate("dated CA", not_before=now - datetime.timedelta(days=2),
                          not_after=now + datetime.timedelta(days=2))
    policy.check_ca_certificate(ca.pem, now)
    with pytest.raises(policy.CertificateRejected) as raised:
        policy.check_ca_certificate(ca.pem, now + datetime.timedelta(days=3))
    assert raised.value.code == "expired"
    with pytest.raises(policy.CertificateRejected) as raised:
        policy.check_ca_certificate(ca.pem, now - datetime.timedelta(days=3))
    assert raised.value.code == "not_yet_valid"


def test_ca_check_rejects_ed25519_and_other_curves():
    for key in (ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256K1())):
        ca = make_certificate("odd key CA", key=key)
        with pytest.raises(policy.CertificateRejected) as raised:
            policy.check_ca_certificate(ca.pem)
        assert raised.value.code == "unsupported_key"


def test_ca_check_rejects_oversized_pem():
    with pytest.raises(policy.CertificateRejected) as raised:
        policy.check_ca_certificate("-" * (policy.MAX_PEM_CHARS + 1))
    assert raised.value.code == "pem_too_large"


@pytest.mark.parametrize("cert_id, valid", [
    ("a", True), ("my-ca_1.2~x", True), ("A" * 128, True), ("A" * 129, False), ("", False),
    ("-a", False), (".hidden", False), ("a b", False), ("a/b", False), ("é", False),
])
def test_cert_id_rule(cert_id, valid):
    assert policy.is_cert_id(cert_id) is valid


def test_render_table_with_multiline_cells():
    text = render_table(["CERTID", "CERT"], [["one", "line1\nlonger line 2"], ["", ""],
                                            ["two", "x"]])
    assert text.splitlines() == [
        "+--------+---------------+",
        "| CERTID | CERT          |",
        "+--------+---------------+",
        "| one    | line1         |",
        "|        | longer line 2 |",
        "|        |               |",
        "| two    | x             |",
        "+--------+---------------+",
    ]


def test_render_banner():
    lines = render_banner("Certificate my-ca").splitlines()
    assert lines[1] == "Certificate my-ca"
    assert lines[0] == lines[2] == "-" * 40
