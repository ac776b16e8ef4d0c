"""The mechanism table.

Each ``MechanismSpec`` row names the functions a mechanism serves, the key types it accepts,
its key size range, how its parameter is checked, and the scheme objects that implement it.
Dispatch, GetMechanismList and GetMechanismInfo read only this table. Each family module
(``rsa``, ``ec``, ``dsa_dh``, ``symmetric``, ``counter_modes``, ``cmac``, ``digest``,
``derivation``, ``vendor``) contributes its rows.
"""

from typing import Dict

from ..constants import CKM, CKR, describe_mechanism
from ..errors import PKCS11Error
from . import cmac, counter_modes, derivation, digest, dsa_dh, ec, rsa, symmetric, vendor
from .base import (
    CipherScheme,
    DerivedKey,
    DeriveScheme,
    Function,
    KeyPairGenerator,
    MechanismSpec,
    SecretKeyGenerator,
    SignScheme,
    TransportKeyScheme,
)
from .parameters import decode_parameter, encode_parameter

# GetMechanismList returns the rows in this order; rsa.ROWS starts with CKM_RSA_PKCS.
MECHANISM_ROWS = [
    *rsa.ROWS,
    *ec.ROWS,
    *dsa_dh.ROWS,
    *symmetric.ROWS,
    *counter_modes.ROWS,
    *cmac.ROWS,
    *digest.ROWS,
    *derivation.ROWS,
    *vendor.ROWS,
    MechanismSpec(CKM.IBM_TRANSPORTKEY, Function.UNWRAP, transport=TransportKeyScheme()),
]

MECHANISMS: Dict[int, MechanismSpec] = {row.mechanism: row for row in MECHANISM_ROWS}
assert len(MECHANISMS) == len(MECHANISM_ROWS), "a mechanism appears twice in the table"

def lookup(mechanism: int, function: Function) -> MechanismSpec:
    """Return the row of ``mechanism`` if it serves ``function``; else CKR_MECHANISM_INVALID."""
    spec = MECHANISMS.get(mechanism)
    if spec is None:
        raise PKCS11Error(
            CKR.MECHANISM_INVALID, f"mechanism {describe_mechanism(mechanism)} is not supported"
        )
    if function not in spec.functions:
        raise PKCS11Error(
            CKR.MECHANISM_INVALID,
            f"mechanism {describe_mechanism(mechanism)} cannot be used to {function.name.lower()}",
        )
    return spec


__all__ = [
    "MECHANISMS",
    "MECHANISM_ROWS",
    "CipherScheme",
    "DerivedKey",
    "DeriveScheme",
    "Function",
    "KeyPairGenerator",
    "MechanismSpec",
    "SecretKeyGenerator",
    "SignScheme",
    "decode_parameter",
    "encode_parameter",
    "lookup",
]
