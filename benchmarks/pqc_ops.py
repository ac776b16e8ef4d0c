"""The post-quantum, BLS12-381 and SHA-3 engine operations, each beside its reference.

The references do the same operation directly, with the key as an object in memory:
``cryptography`` for ML-KEM and ML-DSA, ``py_arkworks_bls12381`` for BLS12-381 and ``hashlib``
for SHA3-256. IBM's round-2 and round-3 Dilithium and round-2 Kyber (CKM_IBM_DILITHIUM and
CKM_IBM_KYBER) have no implementation outside the engine here. Their rows compare them with the
engine's standard scheme of the same matrix shape instead: Dilithium 6-5 with ML-DSA-65, and
Kyber-1024 with ML-KEM-1024.

The engine gets its key as a blob on every call, as SignSingle and DeriveKey do. A KEM operation
through the engine is a DeriveKey call that also seals the shared secret as an AES-256 key blob,
which the reference does not do.
"""

import dataclasses
import hashlib
import itertools
import os
import tempfile
from typing import Callable, Dict, List, Optional

from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem
from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from ep11core import CKA, CKM, Engine, Mechanism, masterkey
from ep11core.constants import CKD, CKK, CKO
from ep11core.keys import encode_oid
from ep11core.types import ECSGParams, KyberKEMParams

from .measure import interleaved_rates, ratio

MESSAGE = os.urandom(1024)
# Dilithium signing repeats until a candidate passes its bound checks, and the round-2 and
# round-3 variants sign deterministically, so one fixed message would measure one fixed number
# of attempts. Every signing call takes the next of these messages instead.
SIGN_MESSAGES = tuple(os.urandom(1024) for _ in range(64))
SHA3_DATA_BYTES = 1 << 20
SHA3_DATA = os.urandom(SHA3_DATA_BYTES)

# CKA_IBM_PARAMETER_SET values (CKP_IBM_ML_DSA_65, CKP_IBM_ML_KEM_768 and CKP_IBM_ML_KEM_1024).
ML_DSA_65 = 2
ML_KEM_768 = 2
ML_KEM_1024 = 3
# IBM's OIDs of the CKM_IBM_DILITHIUM and CKM_IBM_KYBER strengths (CKA_IBM_PQC_PARAMS).
DILITHIUM_R3_6X5 = encode_oid("1.3.6.1.4.1.2.267.7.6.5")
DILITHIUM_R2_6X5 = encode_oid("1.3.6.1.4.1.2.267.1.6.5")
KYBER_1024_R2 = encode_oid("1.3.6.1.4.1.2.267.5.4.4")
BLS12_381 = encode_oid("1.3.6.1.4.1.2.267.999.3.2")
# KyberKEMParams modes.
ENCAPSULATE, DECAPSULATE = 1, 2
# The bytes in front of the ciphertext in CKA_CHECKSUM of a key from a KEM encapsulation.
KEM_CHECKSUM_PREFIX_BYTES = 7
AES_TEMPLATE = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 32}
# The ciphersuite BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_ (draft-irtf-cfrg-bls-signature-05),
# the one the engine implements for CKM_IBM_ECDSA_OTHER variant 6.
BLS_DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
BLS_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001


@dataclasses.dataclass(frozen=True)
class Row:
    """One measured operation: its reference library, or the engine operation it is compared with."""

    op: str
    description: str
    reference: Optional[str]
    baseline_op: Optional[str] = None


ROWS = (
    Row("ml_kem768_encapsulate", "CKM_IBM_ML_KEM ML-KEM-768 encapsulate (DeriveKey)",
        "cryptography"),
    Row("ml_kem768_decapsulate", "CKM_IBM_ML_KEM ML-KEM-768 decapsulate (DeriveKey)",
        "cryptography"),
    Row("ml_kem1024_encapsulate", "CKM_IBM_ML_KEM ML-KEM-1024 encapsulate (DeriveKey)",
        "cryptography"),
    Row("ml_kem1024_decapsulate", "CKM_IBM_ML_KEM ML-KEM-1024 decapsulate (DeriveKey)",
        "cryptography"),
    Row("ml_dsa65_sign", "CKM_IBM_ML_DSA ML-DSA-65 sign, 64 messages of 1 KiB in turn", "cryptography"),
    Row("ml_dsa65_verify", "CKM_IBM_ML_DSA ML-DSA-65 verify, 1 KiB", "cryptography"),
    Row("dilithium_r3_6x5_sign", "CKM_IBM_DILITHIUM round 3 6-5 sign, 64 messages of 1 KiB in turn", None,
        "ml_dsa65_sign"),
    Row("dilithium_r3_6x5_verify", "CKM_IBM_DILITHIUM round 3 6-5 verify, 1 KiB", None,
        "ml_dsa65_verify"),
    Row("dilithium_r2_6x5_sign", "CKM_IBM_DILITHIUM round 2 6-5 sign, 64 messages of 1 KiB in turn", None,
        "ml_dsa65_sign"),
    Row("dilithium_r2_6x5_verify", "CKM_IBM_DILITHIUM round 2 6-5 verify, 1 KiB", None,
        "ml_dsa65_verify"),
    Row("kyber1024_r2_encapsulate", "CKM_IBM_KYBER round 2 Kyber-1024 encapsulate (DeriveKey)",
        None, "ml_kem1024_encapsulate"),
    Row("kyber1024_r2_decapsulate", "CKM_IBM_KYBER round 2 Kyber-1024 decapsulate (DeriveKey)",
        None, "ml_kem1024_decapsulate"),
    Row("bls12381_sign", "BLS12-381 CKM_IBM_ECDSA_OTHER variant 6 sign, 64 messages of 1 KiB in turn",
        "py_arkworks_bls12381"),
    Row("bls12381_verify", "BLS12-381 CKM_IBM_ECDSA_OTHER variant 6 verify, 1 KiB",
        "py_arkworks_bls12381"),
    Row("sha3_256_digest_1mib", "CKM_IBM_SHA3_256 DigestSingle, 1 MiB", "hashlib"),
)


def _kem(mechanism: int, mode: int, ciphertext: bytes = b"") -> Mechanism:
    return Mechanism(mechanism, KyberKEMParams(0, mode, CKD.NULL, ciphertext=ciphertext))


def _engine_kem_calls(
    engine: Engine, prefix: str, mechanism: int, pair
) -> Dict[str, Callable[[], object]]:
    encapsulate = _kem(mechanism, ENCAPSULATE)
    encapsulated = engine.derive_key(encapsulate, pair.public_blob, b"", AES_TEMPLATE)
    ciphertext = encapsulated.checksum[KEM_CHECKSUM_PREFIX_BYTES:]
    decapsulate = _kem(mechanism, DECAPSULATE, ciphertext)
    return {
        f"{prefix}_encapsulate": lambda: engine.derive_key(
            encapsulate, pair.public_blob, b"", AES_TEMPLATE
        ),
        f"{prefix}_decapsulate": lambda: engine.derive_key(
            decapsulate, pair.private_blob, b"", AES_TEMPLATE
        ),
    }


def _engine_signature_calls(
    engine: Engine, prefix: str, mechanism: Mechanism, pair
) -> Dict[str, Callable[[], object]]:
    signature = engine.sign_single(mechanism, pair.private_blob, MESSAGE)
    messages = itertools.cycle(SIGN_MESSAGES)
    return {
        f"{prefix}_sign": lambda: engine.sign_single(
            mechanism, pair.private_blob, next(messages)
        ),
        f"{prefix}_verify": lambda: engine.verify_single(
            mechanism, pair.public_blob, MESSAGE, signature
        ),
    }


def _ml_kem_pair(engine: Engine, parameter_set: int):
    return engine.generate_key_pair(
        Mechanism(CKM.IBM_ML_KEM_KEY_PAIR_GEN),
        {CKA.IBM_PARAMETER_SET: parameter_set, CKA.DERIVE: True},
        {CKA.DERIVE: True},
    )


def _dilithium_pair(engine: Engine, strength: bytes):
    return engine.generate_key_pair(
        Mechanism(CKM.IBM_DILITHIUM),
        {CKA.IBM_PQC_PARAMS: strength, CKA.VERIFY: True},
        {CKA.SIGN: True},
    )


def _engine_operations(engine: Engine) -> Dict[str, Callable[[], object]]:
    ml_dsa_pair = engine.generate_key_pair(
        Mechanism(CKM.IBM_ML_DSA_KEY_PAIR_GEN),
        {CKA.IBM_PARAMETER_SET: ML_DSA_65, CKA.VERIFY: True},
        {CKA.SIGN: True},
    )

    kyber_pair = engine.generate_key_pair(
        Mechanism(CKM.IBM_KYBER),
        {CKA.CLASS: CKO.PUBLIC_KEY, CKA.IBM_PQC_PARAMS: KYBER_1024_R2, CKA.DERIVE: True},
        {CKA.CLASS: CKO.PRIVATE_KEY, CKA.DERIVE: True},
    )

    bls_pair = engine.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {CKA.EC_PARAMS: BLS12_381, CKA.VERIFY: True},
        {CKA.SIGN: True},
    )
    dilithium = Mechanism(CKM.IBM_DILITHIUM)
    sha3_256 = Mechanism(CKM.IBM_SHA3_256)

    calls: Dict[str, Callable[[], object]] = {}
    calls.update(
        _engine_kem_calls(engine, "ml_kem768", CKM.IBM_ML_KEM, _ml_kem_pair(engine, ML_KEM_768))
    )
    calls.update(
        _engine_kem_calls(engine, "ml_kem1024", CKM.IBM_ML_KEM, _ml_kem_pair(engine, ML_KEM_1024))
    )
    calls.update(
        _engine_signature_calls(engine, "ml_dsa65", Mechanism(CKM.IBM_ML_DSA), ml_dsa_pair)
    )
    calls.update(
        _engine_signature_calls(
            engine, "dilithium_r3_6x5", dilithium, _dilithium_pair(engine, DILITHIUM_R3_6X5)
        )
    )
    calls.update(
        _engine_signature_calls(
            engine, "dilithium_r2_6x5", dilithium, _dilithium_pair(engine, DILITHIUM_R2_6X5)
        )
    )

    calls.update(_engine_kem_calls(engine, "kyber1024_r2", CKM.IBM_KYBER, kyber_pair))
    calls.update(
        _engine_signature_calls(
            engine, "bls12381", Mechanism(CKM.IBM_ECDSA_OTHER, ECSGParams(6)), bls_pair
        )
    )
    calls["sha3_256_digest_1mib"] = lambda: engine.digest_single(sha3_256, SHA3_DATA)
    return calls


def _reference_kem_calls(prefix: str, private_class) -> Dict[str, Callable[[], object]]:
    private_key = private_class.generate()
    public_key = private_key.public_key()
    _shared_secret, ciphertext = public_key.encapsulate()
    return {
        f"{prefix}_encapsulate": public_key.encapsulate,
        f"{prefix}_decapsulate": lambda: private_key.decapsulate(ciphertext),
    }


def _reference_bls_calls() -> Dict[str, Callable[[], object]]:
    secret = Scalar(int.from_bytes(os.urandom(48), "big") % (BLS_ORDER - 1) + 1)
    public_key = G1Point() * secret
    negated_generator = -G1Point()

    messages = itertools.cycle(SIGN_MESSAGES)

    def sign() -> bytes:
        message_point = G2Point.hash_to_curve(next(messages), BLS_DST)
        return (message_point * secret).to_compressed_bytes()

    signature = (G2Point.hash_to_curve(MESSAGE, BLS_DST) * secret).to_compressed_bytes()

    def verify() -> bool:
        point = G2Point.from_compressed_bytes(signature)
        message_point = G2Point.hash_to_curve(MESSAGE, BLS_DST)
        return GT.pairing_check([public_key, negated_generator], [message_point, point])

    return {"bls12381_sign": sign, "bls12381_verify": verify}


def _reference_operations() -> Dict[str, Callable[[], object]]:
    ml_dsa_key = mldsa.MLDSA65PrivateKey.generate()
    ml_dsa_public_key = ml_dsa_key.public_key()
    ml_dsa_signature = ml_dsa_key.sign(MESSAGE)
    ml_dsa_messages = itertools.cycle(SIGN_MESSAGES)
    calls: Dict[str, Callable[[], object]] = {}
    calls.update(_reference_kem_calls("ml_kem768", mlkem.MLKEM768PrivateKey))
    calls.update(_reference_kem_calls("ml_kem1024", mlkem.MLKEM1024PrivateKey))
    calls["ml_dsa65_sign"] = lambda: ml_dsa_key.sign(next(ml_dsa_messages))
    calls["ml_dsa65_verify"] = lambda: ml_dsa_public_key.verify(ml_dsa_signature, MESSAGE)
    calls.update(_reference_bls_calls())
    calls["sha3_256_digest_1mib"] = lambda: hashlib.sha3_256(SHA3_DATA).digest()
    return calls


def measure(rounds: int, seconds: float) -> List[dict]:
    """Measure every row against its reference or baseline; return one record per row.

    A row without a reference runs in alternating rounds with the engine operation it is
    compared with, so that ratio is measured side by side like the reference ratios.
    """
    with tempfile.TemporaryDirectory(prefix="grep11-bench-pqc-") as state_dir:
        engine = Engine(masterkey.load_or_create(state_dir))
        engine_calls = _engine_operations(engine)
        reference_calls = _reference_operations()
        records = []
        for row in ROWS:
            rates = interleaved_rates(
                {
                    "engine": engine_calls[row.op],
                    "reference": reference_calls.get(row.op),
                    "baseline": engine_calls[row.baseline_op] if row.baseline_op else None,
                },
                rounds,
                seconds,
            )
            records.append(
                {
                    "op": row.op,
                    "description": row.description,
                    "reference": row.reference,
                    "engine_ops": round(rates["engine"], 1),
                    "reference_ops": _rounded(rates["reference"]),
                    "engine_vs_reference": ratio(rates["engine"], rates["reference"]),
                    "baseline_op": row.baseline_op,
                    "baseline_ops": _rounded(rates["baseline"]),
                    "engine_vs_baseline": ratio(rates["engine"], rates["baseline"]),
                }
            )
        return records


def _rounded(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 1)
