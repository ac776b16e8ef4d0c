"""Benchmarks of the engine operations (pytest-benchmark) and a smoke run of the runner.

Marked ``perf``, so the default ``pytest`` run leaves them out. CI runs them once per test with
``pytest -m perf --benchmark-disable``, which keeps them from rotting. To measure, run
``pytest -m perf`` and read pytest-benchmark's table. No test here asserts a timing figure.
"""

import hashlib
import json
import subprocess
import sys

import pytest
from conftest import der_element
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, padding
from cryptography.hazmat.primitives.serialization import load_der_public_key
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from py_arkworks_bls12381 import GT, G1Point, G2Point

from ep11core import CKA, CKM, Engine, Mechanism, masterkey
from ep11core.constants import CKD, CKK, CKO
from ep11core.keys import encode_oid
from ep11core.types import ECSGParams, KyberKEMParams

pytestmark = pytest.mark.perf

DATA = bytes(range(256)) * 4
IV = bytes(16)
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")
SPKI_TRAILER_BYTES = 120  # the MAC trailer after the DER SPKI of a public key blob
AES_TEMPLATE = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 32}
ENCAPSULATE, DECAPSULATE = 1, 2
KEM_CHECKSUM_PREFIX_BYTES = 7  # the key checksum in front of the ciphertext in CKA_CHECKSUM
BLS_DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"


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


def kem_mechanism(mechanism, mode, ciphertext=b""):
    return Mechanism(mechanism, KyberKEMParams(0, mode, CKD.NULL, ciphertext=ciphertext))


@pytest.fixture(scope="module")
def ml_kem768_pair(engine):
    return engine.generate_key_pair(
        Mechanism(CKM.IBM_ML_KEM_KEY_PAIR_GEN),
        {CKA.IBM_PARAMETER_SET: 2, CKA.DERIVE: True},
        {CKA.DERIVE: True},
    )


def test_ml_kem768_encapsulate(benchmark, engine, ml_kem768_pair):
    encapsulate = kem_mechanism(CKM.IBM_ML_KEM, ENCAPSULATE)
    key = benchmark(engine.derive_key, encapsulate, ml_kem768_pair.public_blob, b"", AES_TEMPLATE)
    ciphertext = key.checksum[KEM_CHECKSUM_PREFIX_BYTES:]
    assert len(ciphertext) == 1088
    decapsulate = kem_mechanism(CKM.IBM_ML_KEM, DECAPSULATE, ciphertext)
    decapsulated = engine.derive_key(decapsulate, ml_kem768_pair.private_blob, b"", AES_TEMPLATE)
    assert decapsulated.checksum[:KEM_CHECKSUM_PREFIX_BYTES] == key.checksum[:KEM_CHECKSUM_PREFIX_BYTES]


def test_ml_kem768_decapsulate(benchmark, engine, ml_kem768_pair):
    public_key = load_der_public_key(der_element(ml_kem768_pair.public_blob))
    assert isinstance(public_key, mlkem.MLKEM768PublicKey)
    shared_secret, ciphertext = public_key.encapsulate()
    decapsulate = kem_mechanism(CKM.IBM_ML_KEM, DECAPSULATE, ciphertext)
    key = benchmark(engine.derive_key, decapsulate, ml_kem768_pair.private_blob, b"", AES_TEMPLATE)
    encrypted = engine.encrypt_single(Mechanism(CKM.AES_CBC_PAD, IV), key.blob, DATA)
    decryptor = Cipher(algorithms.AES(shared_secret), modes.CBC(IV)).decryptor()
    padded = decryptor.update(encrypted) + decryptor.finalize()
    assert padded[: -padded[-1]] == DATA


def test_ml_dsa65_sign(benchmark, engine):
    pair = engine.generate_key_pair(
        Mechanism(CKM.IBM_ML_DSA_KEY_PAIR_GEN), {CKA.IBM_PARAMETER_SET: 2, CKA.VERIFY: True}, {}
    )
    mechanism = Mechanism(CKM.IBM_ML_DSA)
    signature = benchmark(engine.sign_single, mechanism, pair.private_blob, DATA)
    load_der_public_key(der_element(pair.public_blob)).verify(signature, DATA)


@pytest.mark.parametrize("oid", ["1.3.6.1.4.1.2.267.7.6.5", "1.3.6.1.4.1.2.267.1.6.5"])
def test_dilithium_sign(benchmark, engine, oid):
    pair = engine.generate_key_pair(
        Mechanism(CKM.IBM_DILITHIUM), {CKA.IBM_PQC_PARAMS: encode_oid(oid), CKA.VERIFY: True}, {}
    )
    mechanism = Mechanism(CKM.IBM_DILITHIUM)
    signature = benchmark(engine.sign_single, mechanism, pair.private_blob, DATA)
    engine.verify_single(mechanism, pair.public_blob, DATA, signature)


def test_kyber1024_round_trip(benchmark, engine):
    pair = engine.generate_key_pair(
        Mechanism(CKM.IBM_KYBER),
        {
            CKA.CLASS: CKO.PUBLIC_KEY,
            CKA.IBM_PQC_PARAMS: encode_oid("1.3.6.1.4.1.2.267.5.4.4"),
            CKA.DERIVE: True,
        },
        {CKA.CLASS: CKO.PRIVATE_KEY, CKA.DERIVE: True},
    )
    encapsulate = kem_mechanism(CKM.IBM_KYBER, ENCAPSULATE)
    key = benchmark(engine.derive_key, encapsulate, pair.public_blob, b"", AES_TEMPLATE)
    ciphertext = key.checksum[KEM_CHECKSUM_PREFIX_BYTES:]
    assert len(ciphertext) == 1568
    decapsulate = kem_mechanism(CKM.IBM_KYBER, DECAPSULATE, ciphertext)
    decapsulated = engine.derive_key(decapsulate, pair.private_blob, b"", AES_TEMPLATE)
    assert decapsulated.checksum[:KEM_CHECKSUM_PREFIX_BYTES] == key.checksum[:KEM_CHECKSUM_PREFIX_BYTES]


def test_bls12381_sign(benchmark, engine):
    pair = engine.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {CKA.EC_PARAMS: encode_oid("1.3.6.1.4.1.2.267.999.3.2"), CKA.VERIFY: True},
        {CKA.SIGN: True},
    )
    mechanism = Mechanism(CKM.IBM_ECDSA_OTHER, ECSGParams(6))
    signature = benchmark(engine.sign_single, mechanism, pair.private_blob, DATA)
    public_key = G1Point.from_compressed_bytes(der_element(pair.public_blob)[-48:])
    message_point = G2Point.hash_to_curve(DATA, BLS_DST)
    point = G2Point.from_compressed_bytes(signature)
    assert GT.pairing_check([public_key, -G1Point()], [message_point, point])


def test_sha3_256_digest_1mib(benchmark, engine):
    data = DATA * 1024
    digest = benchmark(engine.digest_single, Mechanism(CKM.IBM_SHA3_256), data)
    assert digest == hashlib.sha3_256(data).digest()


ENGINE_FIELDS = {
    "op", "description", "engine_ops", "openssl_ops", "softhsm_ops", "engine_vs_openssl",
    "engine_vs_softhsm",
}
PQC_FIELDS = {
    "op", "description", "reference", "engine_ops", "reference_ops", "engine_vs_reference",
    "baseline_op", "baseline_ops", "engine_vs_baseline",
}
# Each measured operation and its reference library, or None where the engine is compared with
# its own operation of the same shape.
PQC_REFERENCES = {
    "ml_kem768_encapsulate": "cryptography",
    "ml_kem768_decapsulate": "cryptography",
    "ml_kem1024_encapsulate": "cryptography",
    "ml_kem1024_decapsulate": "cryptography",
    "ml_dsa65_sign": "cryptography",
    "ml_dsa65_verify": "cryptography",
    "dilithium_r3_6x5_sign": None,
    "dilithium_r3_6x5_verify": None,
    "dilithium_r2_6x5_sign": None,
    "dilithium_r2_6x5_verify": None,
    "kyber1024_r2_encapsulate": None,
    "kyber1024_r2_decapsulate": None,
    "bls12381_sign": "py_arkworks_bls12381",
    "bls12381_verify": "py_arkworks_bls12381",
    "sha3_256_digest_1mib": "hashlib",
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


def test_runner_pqc_records(runner_output):
    results, _stdout, _plot = runner_output
    records = {record["op"]: record for record in results["pqc_ops"]}
    assert list(records) == list(PQC_REFERENCES)
    for op, reference in PQC_REFERENCES.items():
        record = records[op]
        assert set(record) == PQC_FIELDS
        assert record["reference"] == reference
        assert record["engine_ops"] > 0
        if reference is None:
            assert record["reference_ops"] is None
            assert record["engine_vs_reference"] is None
        else:
            assert record["reference_ops"] > 0
            assert record["engine_vs_reference"] > 0


def test_runner_pqc_baselines(runner_output):
    results, _stdout, _plot = runner_output
    records = {record["op"]: record for record in results["pqc_ops"]}
    for op, reference in PQC_REFERENCES.items():
        record = records[op]
        if reference is not None:
            assert record["baseline_op"] is None
            assert record["engine_vs_baseline"] is None
            continue
        # Dilithium and Kyber are compared with the engine's standard scheme of the same shape.
        assert record["baseline_op"] in records
        assert records[record["baseline_op"]]["reference"] == "cryptography"
        assert record["baseline_ops"] > 0
        assert record["engine_vs_baseline"] > 0


def test_runner_pqc_table_printed(runner_output):
    _results, stdout, _plot = runner_output
    assert "post-quantum, BLS12-381 and SHA3-256 operations per second" in stdout
    for op in PQC_REFERENCES:
        assert op in stdout


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
