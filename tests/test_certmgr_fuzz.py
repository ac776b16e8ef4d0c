"""Schema-driven fuzzing of the certificate-manager API with schemathesis against a real server.

Every operation in ``/openapi.json`` gets schema-valid and schema-violating requests. Each
response must be below 500 and match the schema (status, content type, body). Afterwards the
store must pass its integrity checks, and the seeded admin key and certificate must be unchanged:
the fuzzer cannot sign, so no generated request may change the trust store.

The quick run is derandomised and bounded by ``QUICK_EXAMPLES`` per operation; the slow run
draws ``SLOW_EXAMPLES`` random cases per operation within the pytest timeout.
"""

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from certmgr_support import (  # noqa: F401 - fixtures
    certmgr_iam_server,
    certmgr_server,
    make_certificate,
    register_admin,
    signed_call,
    tls_files,
)

QUICK_EXAMPLES = 15
SLOW_EXAMPLES = 200

CERTMGR_OPERATIONS = [
    ("POST", "/v1/admin-key"),
    ("GET", "/v1/admin-key"),
    ("PUT", "/v1/admin-key"),
    ("DELETE", "/v1/admin-key"),
    ("GET", "/v1/certs"),
    ("PUT", "/v1/certs/{cert_id}"),
    ("GET", "/v1/certs/{cert_id}"),
    ("DELETE", "/v1/certs/{cert_id}"),
]
TOKEN_OPERATIONS = [("GET", "/identity/token"), ("POST", "/identity/token")]

# A schema-violating request may also be rejected with 413 when its body exceeds the server's
# size limit before validation.
NEGATIVE_DATA_STATUSES = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
                          "428", "429", "5XX"]
FUZZ_CONFIG = {
    "checks": {
        "negative_data_rejection": {"expected-statuses": NEGATIVE_DATA_STATUSES},
        # A schema-valid request may still be rejected, because the schema cannot express that
        # a PEM must parse, that a request must be signed, or that grant_type may come from the
        # query or the body.
        "positive_data_acceptance": {"enabled": False},
    }
}


class Seeded:
    """The state put into the store before fuzzing, to compare afterwards."""

    def __init__(self, server, headers):
        with server.http() as client:
            self.key = register_admin(client, headers=headers)
            self.pem = make_certificate("fuzz seed CA").pem
            response = signed_call(client, self.key, "PUT", "/v1/certs/seed", {"pem": self.pem},
                                   headers=headers)
            assert response.status_code == 201, response.text
        self.admin = "alice" if headers else "admin"
        self.key_id = server.store.admin_key(self.admin).key_id

    def assert_unchanged(self, server, headers):
        store = server.store
        assert store.integrity_problems() == []
        assert store.change_version() == 1
        assert store.trusted_ca_certificates().certificates == (self.pem.encode(),)
        assert store.admin_key(self.admin).key_id == self.key_id
        # The server still serves signed changes after the fuzzing.
        with server.http() as client:
            response = signed_call(client, self.key, "DELETE", "/v1/certs/seed", headers=headers)
            assert response.status_code == 200, response.text
        assert store.trusted_ca_certificates().certificates == ()


def load_schema(server):
    return schemathesis.openapi.from_url(
        f"{server.url}/openapi.json",
        config=schemathesis.Config.from_dict(FUZZ_CONFIG),
        verify=server.tls.ca_path,
    )


def fuzz(server, method: str, path: str, max_examples: int, derandomize: bool, headers: dict):
    schema = load_schema(server)
    operation = schema[path][method]
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | (
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    )
    session = requests.Session()

    @settings(
        max_examples=max_examples,
        derandomize=derandomize,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run_case(case):
        response = case.call(base_url=server.url, session=session, headers=headers,
                             verify=server.tls.ca_path)
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
        case.validate_response(response, headers=headers,
                               transport_kwargs={"verify": server.tls.ca_path})

    try:
        run_case()
    finally:
        session.close()


def bearer_headers(server) -> dict:
    token = server.token_service.issue("alice-key")["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_schema_lists_fuzzed_operations(certmgr_iam_server):
    schema = load_schema(certmgr_iam_server)
    listed = {(result.ok().method.upper(), result.ok().path)
              for result in schema.get_all_operations()}
    assert listed == set(CERTMGR_OPERATIONS + TOKEN_OPERATIONS)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method, path", CERTMGR_OPERATIONS)
def test_fuzz_without_iam(certmgr_server, method, path):
    seeded = Seeded(certmgr_server, {})
    fuzz(certmgr_server, method, path, QUICK_EXAMPLES, True, {})
    seeded.assert_unchanged(certmgr_server, {})


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method, path", CERTMGR_OPERATIONS + TOKEN_OPERATIONS)
def test_fuzz_with_iam(certmgr_iam_server, method, path):
    headers = bearer_headers(certmgr_iam_server)
    seeded = Seeded(certmgr_iam_server, headers)
    fuzz(certmgr_iam_server, method, path, QUICK_EXAMPLES, True, headers)
    seeded.assert_unchanged(certmgr_iam_server, headers)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("method, path", CERTMGR_OPERATIONS)
def test_fuzz_long_without_iam(certmgr_server, method, path):
    seeded = Seeded(certmgr_server, {})
    fuzz(certmgr_server, method, path, SLOW_EXAMPLES, False, {})
    seeded.assert_unchanged(certmgr_server, {})


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("method, path", CERTMGR_OPERATIONS + TOKEN_OPERATIONS)
def test_fuzz_long_with_iam(certmgr_iam_server, method, path):
    headers = bearer_headers(certmgr_iam_server)
    seeded = Seeded(certmgr_iam_server, headers)
    fuzz(certmgr_iam_server, method, path, SLOW_EXAMPLES, False, headers)
    seeded.assert_unchanged(certmgr_iam_server, headers)
