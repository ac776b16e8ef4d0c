"""The engine operations, each beside the same operation in ``cryptography`` and in SoftHSMv2.

Every operation works on 1 KiB of data. The engine receives its key as a blob on every call,
as EncryptSingle and SignSingle do; ``cryptography`` keeps its key as an object in memory, as a
Python application would.
"""

import dataclasses
import os
import tempfile
from typing import Callable, Dict, List, Optional

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ep11core import CKA, CKM, Engine, Mechanism, masterkey
from grpc_server.loadgen import P256_PARAMS

from . import softhsm
from .measure import interleaved_rates, ratio

DATA = os.urandom(1024)
IV = os.urandom(16)


@dataclasses.dataclass
class Operation:
    """One operation in its three forms; a form that does not exist is None."""

    op: str
    description: str
    engine: Callable[[], object]
    openssl: Optional[Callable[[], object]]
    softhsm: Optional[Callable[[], object]]


def _engine_operations(engine: Engine) -> Dict[str, Callable[[], object]]:
    rsa_pair = engine.generate_key_pair(
        Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN), {CKA.MODULUS_BITS: 2048}, {}
    )
    ec_pair = engine.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: P256_PARAMS}, {}
    )
    aes_blob = engine.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32}).blob
    rsa_mechanism = Mechanism(CKM.SHA256_RSA_PKCS)
    ecdsa_mechanism = Mechanism(CKM.ECDSA_SHA256)
    cbc_mechanism = Mechanism(CKM.AES_CBC_PAD, IV)
    sha256_mechanism = Mechanism(CKM.SHA256)
    keygen_mechanism = Mechanism(CKM.AES_KEY_GEN)
    keygen_template = {CKA.VALUE_LEN: 32}
    return {
        "rsa2048_sign": lambda: engine.sign_single(rsa_mechanism, rsa_pair.private_blob, DATA),
        "ecdsa_p256_sign": lambda: engine.sign_single(
            ecdsa_mechanism, ec_pair.private_blob, DATA
        ),
        "aes256_cbc_pad_encrypt": lambda: engine.encrypt_single(cbc_mechanism, aes_blob, DATA),
        "sha256_digest": lambda: engine.digest_single(sha256_mechanism, DATA),
        "aes256_keygen": lambda: engine.generate_key(keygen_mechanism, keygen_template),
    }


def _openssl_operations() -> Dict[str, Callable[[], object]]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    aes_key = os.urandom(32)

    def aes_encrypt():
        padder = symmetric_padding.PKCS7(128).padder()
        padded = padder.update(DATA) + padder.finalize()
        encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(IV)).encryptor()
        return encryptor.update(padded) + encryptor.finalize()

    def sha256():
        digest = hashes.Hash(hashes.SHA256())
        digest.update(DATA)
        return digest.finalize()

    return {
        "rsa2048_sign": lambda: rsa_key.sign(DATA, padding.PKCS1v15(), hashes.SHA256()),
        "ecdsa_p256_sign": lambda: ec_key.sign(DATA, ec.ECDSA(hashes.SHA256())),
        "aes256_cbc_pad_encrypt": aes_encrypt,
        "sha256_digest": sha256,
        # cryptography has no key objects for AES; an application draws 32 random bytes.
        "aes256_keygen": lambda: AESGCM.generate_key(bit_length=256),
    }


DESCRIPTIONS = {
    "rsa2048_sign": "RSA-2048 CKM_SHA256_RSA_PKCS sign, 1 KiB",
    "ecdsa_p256_sign": "ECDSA P-256 with SHA-256 sign, 1 KiB",
    "aes256_cbc_pad_encrypt": "AES-256 CKM_AES_CBC_PAD encrypt, 1 KiB, key blob on every call",
    "sha256_digest": "SHA-256 DigestSingle, 1 KiB",
    "aes256_keygen": "AES-256 key generation",
}


def measure(rounds: int, seconds: float, token: Optional["softhsm.Token"]) -> List[dict]:
    """Measure every operation in its three forms; return one record per operation."""
    with tempfile.TemporaryDirectory(prefix="grep11-bench-engine-") as state_dir:
        engine = Engine(masterkey.load_or_create(state_dir))
        engine_calls = _engine_operations(engine)
        openssl_calls = _openssl_operations()
        softhsm_calls = token.operations(DATA, IV) if token is not None else {}
        records = []
        for op, engine_call in engine_calls.items():
            rates = interleaved_rates(
                {
                    "engine": engine_call,
                    "openssl": openssl_calls.get(op),
                    "softhsm": softhsm_calls.get(op),
                },
                rounds,
                seconds,
            )
            records.append(
                {
                    "op": op,
                    "description": DESCRIPTIONS[op],
                    "engine_ops": round(rates["engine"], 1),
                    "openssl_ops": _rounded(rates["openssl"]),
                    "softhsm_ops": _rounded(rates["softhsm"]),
                    "engine_vs_openssl": ratio(rates["engine"], rates["openssl"]),
                    "engine_vs_softhsm": ratio(rates["engine"], rates["softhsm"]),
                }
            )
            if token is not None:
                token.discard_session_objects()
        return records


def _rounded(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 1)
