"""The EP11 engine: an emulated HSM domain, free of gRPC and HTTP.

Typical in-process use::

    from ep11core import CKA, CKM, Engine, Mechanism, masterkey

    engine = Engine(masterkey.load_or_create("/path/to/state"))
    aes = engine.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32})
    iv = engine.generate_random(16)
    ciphertext = engine.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), aes.blob, b"data")
"""

try:
    from . import _crypto  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on how the package was imported
    raise ImportError(
        "ep11core's compiled extension _crypto is missing: this usually means Python imported "
        "the unbuilt ep11core folder of a source checkout instead of the installed package. "
        "Run your code from outside the checkout, or build the extension in place with "
        "'python setup.py build_proto build_ext --inplace'."
    ) from error

from . import masterkey
from .constants import CKA, CKD, CKF, CKG, CKK, CKM, CKO, CKR, CKZ, ckm_name, ckr_name
from .engine import Engine
from .errors import PKCS11Error
from .masterkey import MasterKey, MasterKeyError
from .types import (
    ECDH1DeriveParams,
    KeyPair,
    KeyResult,
    Mechanism,
    MechanismInfo,
    OAEPParams,
    PSSParams,
    UpdateResult,
)

__all__ = [
    "CKA", "CKD", "CKF", "CKG", "CKK", "CKM", "CKO", "CKR", "CKZ",
    "ECDH1DeriveParams", "Engine", "KeyPair", "KeyResult", "MasterKey", "MasterKeyError",
    "Mechanism", "MechanismInfo", "OAEPParams", "PKCS11Error", "PSSParams", "UpdateResult",
    "ckm_name", "ckr_name", "masterkey",
]
