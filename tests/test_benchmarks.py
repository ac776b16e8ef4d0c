"""Benchmarks of the engine operations (pytest-benchmark) and a smoke run of the runner.

Marked ``perf``, so the default ``pytest`` run leaves them out. CI runs them once per test with
``pytest -m perf --benchmark-disable``, which keeps them from rotting. To measure, run
``pytest -m perf`` and read pytest-benchmark's table. No test here asserts a timing figure.
"""

import json
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.serialization import load_der_public_key
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ep11core import CKA, CKM, Engine, Mechanism, masterkey

pytestmark = pytest.mark.perf

DATA = bytes(range(256)) * 4
IV = bytes(16)
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")
SPKI_TRAILER_BYTES = 120  # the MAC trailer after the DER SPKI of a public key blob


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return Engine(masterkey.load_or_create(str(tmp_path_factory.mktemp("bench-state"))))


@pytest.fixture(scope="module")
def rsa_pair(engine):
    return engine.generate_key_pair(
        Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN), {CKA.MODULUS_BITS: 2048}, {}
    )


@pytest.fixture(scope="module")
def ec_pair(engine):
    return engine.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: P256_PARAMS}, {})


def public_key(pair):
    return load_der_public_key(pair.public_blob[:-SPKI_TRAILER_BYTES])


def test_rsa2048_sign(benchmark, engine, rsa_pair):
    signature = benchmark(
        engine.sign_single, Mechanism(CKM.SHA256_RSA_PKCS), rsa_pair.private_blob, DATA
    )
    public_key(rsa_pair).verify(signature, DATA, padding.PKCS1v15(), hashes.SHA256())


def test_ecdsa_p256_sign(benchmark, engine, ec_pair):
    signature = benchmark(
        engine.sign_single, Mechanism(CKM.ECDSA_SHA256), ec_pair.private_blob, DATA
    )
    assert len(signature) == 64
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    public_key(ec_pair).verify(der, DATA, ec.ECDSA(hashes.SHA256()))


def test_aes256_cbc_pad_encrypt(benchmark, engine):
    key = engine.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32})
    mechanism = Mechanism(CKM.AES_CBC_PAD, IV)
    ciphertext = benchmark(engine.encrypt_single, mechanism, key.blob, DATA)
    assert len(ciphertext) == len(DATA) + 16
    assert engine.decrypt_single(mechanism, key.blob, ciphertext) == DATA


def test_sha256_digest(benchmark, engine):
    digest = benchmark(engine.digest_single, Mechanism(CKM.SHA256), DATA)
    expected = hashes.Hash(hashes.SHA256())
    expected.update(DATA)
    assert digest == expected.finalize()


def test_aes256_keygen(benchmark, engine):
    key = benchmark(engine.generate_key, Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32})
    assert key.attributes[CKA.VALUE_LEN] == 32


def test_generate_random(benchmark, engine):
    assert len(benchmark(engine.generate_random, 32)) == 32


ENGINE_FIELDS = {
    "op", "description", "engine_ops", "openssl_ops", "softhsm_ops", "engine_vs_openssl",
    "engine_vs_softhsm",
}
RPC_FIELDS = {
    "rpc", "scenario", "concurrency", "rps", "p50_ms", "p99_ms", "requests", "errors",
    "empty_rps", "empty_p50_ms", "empty_p99_ms", "vs_empty", "server_cpu_us_per_call",
    "server_cpu_share", "empty_server_cpu_us_per_call",
}
SCALING_FIELDS = {
    "rpc", "scenario", "concurrency", "cpus", "one_core_rps", "all_cores_rps",
    "one_core_server_cpu_share", "all_cores_server_cpu_share", "ratio",
}
LATENCY_FIELDS = {
    "rpc", "background", "idle_p50_ms", "idle_p99_ms", "loaded_p50_ms", "loaded_p99_ms",
    "idle_requests", "loaded_requests", "keygens_completed", "keygen_errors", "ratio",
}


@pytest.fixture(scope="module")
def runner_output(tmp_path_factory):
    """The JSON and the console output of one ``python -m benchmarks --smoke`` run."""
    folder = tmp_path_factory.mktemp("runner")
    json_path = folder / "out.json"
    plot_path = folder / "sweep.png"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--json", str(json_path),
         "--plot", str(plot_path)],
        capture_output=True,
        text=True,
        timeout=600,
        # Outside the source tree, so an installed package is imported as CI installs it.
        cwd=folder,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    with open(json_path) as handle:
        return json.load(handle), completed.stdout, plot_path


def test_runner_engine_records(runner_output):
    results, _stdout, _plot = runner_output
    ops = [record["op"] for record in results["engine_ops"]]
    assert ops == [
        "rsa2048_sign", "ecdsa_p256_sign", "aes256_cbc_pad_encrypt", "sha256_digest",
        "aes256_keygen",
    ]
    for record in results["engine_ops"]:
        assert set(record) == ENGINE_FIELDS
        assert record["engine_ops"] > 0
        assert record["openssl_ops"] > 0
        if results["softhsm"]["available"]:
            assert record["softhsm_ops"] > 0
        else:
            assert record["softhsm_ops"] is None


def test_runner_softhsm_absence_stated(runner_output):
    results, stdout, _plot = runner_output
    if results["softhsm"]["available"]:
        assert results["softhsm"]["reason"] is None
    else:
        assert results["softhsm"]["reason"]
        assert "SoftHSMv2 comparison skipped" in stdout


def test_runner_rpc_records(runner_output):
    results, _stdout, _plot = runner_output
    assert [record["rpc"] for record in results["rpcs"]] == [
        "GenerateRandom", "EncryptSingle", "SignSingle",
    ]
    for record in results["rpcs"]:
        assert set(record) == RPC_FIELDS
        assert record["requests"] > 0
        assert record["errors"] == 0
        assert record["rps"] > 0
        assert record["empty_rps"] > 0
        assert record["p50_ms"] <= record["p99_ms"]


def test_runner_scaling_and_latency(runner_output):
    results, _stdout, _plot = runner_output
    assert set(results["scaling"]) == SCALING_FIELDS
    assert results["scaling"]["one_core_rps"] > 0
    assert results["scaling"]["all_cores_rps"] > 0
    assert set(results["latency"]) == LATENCY_FIELDS
    assert results["latency"]["idle_requests"] > 0
    assert results["latency"]["loaded_requests"] > 0
    assert results["latency"]["keygen_errors"] == 0


def test_runner_targets_and_plot(runner_output):
    results, _stdout, plot_path = runner_output
    assert len(results["targets"]) == 14
    for row in results["targets"]:
        assert set(row) == {"figure", "measured", "target", "met"}
    assert {"cpus", "python", "openssl_system", "load_average"} <= set(results["machine"])
    assert results["concurrency_sweep"]
    assert plot_path.read_bytes().startswith(b"\x89PNG")
