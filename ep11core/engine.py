"""The EP11 verbs.

``Engine`` is the HSM domain. Every method takes and returns bytes and plain Python values
and raises ``PKCS11Error`` on failure. Between calls it keeps only a cache of opened key blobs,
which is safe because blobs are immutable, and the set of open login sessions
(``ep11core.sessions``).
The GREP11 servicer calls exactly these methods; applications may call them in-process.

Every public verb is wrapped by ``_admitted``, which follows the master key file when the
engine has one and refuses every verb but RewrapKeyBlob with CKR_FUNCTION_CANCELED while a
committed new master key waits for finalize (HPCS refuses calls during a rotation). The domain
policy (``policy.Policy``) applies at mechanism lookup, when a key object is sealed, and when a
key is opened for an operation.
"""

import enum
import functools
import inspect
import struct
import threading
import time
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional

from . import _crypto
from .attributes import (
    ATTRIBUTES,
    BLOB_BITS,
    Kind,
    attributes_from_bits,
    blob_bits,
    check_template,
    decode_attributes,
    encode_attributes,
    normalize_template,
)
from .blobs import BlobError, BlobFault, Sealer
from .constants import CKA, CKK, CKM, CKO, CKR, describe_key_type, describe_mechanism
from .errors import PKCS11Error
from .keys import (
    CURVE_BY_OPENSSL_NAME,
    Key,
    aggregate_public_keys,
    load_pkcs8,
    load_spki,
    public_properties,
    secret_checksum,
)
from .masterkey import NewKeyState, RegisterFile, Registers
from .sessions import ZERO_SESSION, LoginSessions
from .mechanisms import (
    MECHANISMS,
    Function,
    MechanismSpec,
    decode_parameter,
    encode_parameter,
)
from .mechanisms.base import DomainParameterGenerator
from .policy import DEFAULT_POLICY, Policy, Rule, key_defaults, violation
from .mechanisms.symmetric import DES_KEY_LENGTHS, SECRET_KEY_LENGTHS, normalize_secret_value
from .types import KeyPair, KeyResult, Mechanism, MechanismInfo, UpdateResult

MAX_RANDOM_BYTES = 1_000_000
KEY_CACHE_ENTRIES = 4096

# EP11 gives every elliptic-curve key, Edwards and Montgomery curves included, type CKK_EC.
PKEY_KEY_TYPES = {
    "RSA": CKK.RSA,
    "EC": CKK.EC,
    "ED25519": CKK.EC,
    "ED448": CKK.EC,
    "X25519": CKK.EC,
    "X448": CKK.EC,
    "DSA": CKK.DSA,
    "DH": CKK.DH,
    "ML-DSA": CKK.IBM_ML_DSA,
    "ML-KEM": CKK.IBM_ML_KEM,
    "BLS12-381": CKK.EC,
    "DILITHIUM": CKK.IBM_PQC_DILITHIUM,
    "KYBER": CKK.IBM_PQC_KYBER,
}

# The verbs that still run while a committed new master key waits for finalize.
ROTATION_WINDOW_VERBS = frozenset({"rewrap_key_blob"})


class Role(enum.Enum):
    """The role of a blob in a call, which selects the CKR code when the blob does not open."""

    KEY = CKR.KEY_HANDLE_INVALID
    WRAPPING_KEY = CKR.WRAPPING_KEY_HANDLE_INVALID
    UNWRAPPING_KEY = CKR.UNWRAPPING_KEY_HANDLE_INVALID
    OBJECT = CKR.OBJECT_HANDLE_INVALID


TYPE_INCONSISTENT = {
    Role.KEY: CKR.KEY_TYPE_INCONSISTENT,
    Role.OBJECT: CKR.KEY_TYPE_INCONSISTENT,
    Role.WRAPPING_KEY: CKR.WRAPPING_KEY_TYPE_INCONSISTENT,
    Role.UNWRAPPING_KEY: CKR.UNWRAPPING_KEY_TYPE_INCONSISTENT,
}

# The usage attribute each function needs, and the class an asymmetric key must have for it.
USAGE = {
    Function.ENCRYPT: (CKA.ENCRYPT, CKO.PUBLIC_KEY),
    Function.DECRYPT: (CKA.DECRYPT, CKO.PRIVATE_KEY),
    Function.SIGN: (CKA.SIGN, CKO.PRIVATE_KEY),
    Function.VERIFY: (CKA.VERIFY, CKO.PUBLIC_KEY),
    Function.WRAP: (CKA.WRAP, CKO.PUBLIC_KEY),
    Function.UNWRAP: (CKA.UNWRAP, CKO.PRIVATE_KEY),
    Function.DERIVE: (CKA.DERIVE, CKO.PRIVATE_KEY),
}


class Operation(enum.IntEnum):
    """The operation a state blob belongs to."""

    DIGEST = 1
    ENCRYPT = 2
    DECRYPT = 3
    SIGN = 4
    VERIFY = 5


OPERATION_FUNCTION = {
    Operation.DIGEST: Function.DIGEST,
    Operation.ENCRYPT: Function.ENCRYPT,
    Operation.DECRYPT: Function.DECRYPT,
    Operation.SIGN: Function.SIGN,
    Operation.VERIFY: Function.VERIFY,
}

_STATE_HEADER = struct.Struct(">BBQ")
_STATE_UPDATED = 0x1


def _pack_fields(*fields: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(field)) + field for field in fields)


def _unpack_fields(data: bytes, offset: int, count: int) -> List[bytes]:
    fields = []
    for _ in range(count):
        (length,) = struct.unpack_from(">I", data, offset)
        offset += 4
        field = data[offset : offset + length]
        if len(field) != length:
            raise ValueError("truncated field")
        fields.append(field)
        offset += length
    if offset != len(data):
        raise ValueError("trailing bytes")
    return fields


class _State:
    """An opened state blob."""

    __slots__ = ("operation", "spec", "parameter", "key", "key_blob", "context", "updated")

    def __init__(self, operation, spec, parameter, key, key_blob, context, updated):
        self.operation = operation
        self.spec = spec
        self.parameter = parameter
        self.key = key
        self.key_blob = key_blob
        self.context = context
        self.updated = updated


class Engine:
    """An emulated EP11 domain: its master key registers and its policy.

    ``master_key`` is a ``MasterKey`` or ``Registers`` (fixed for the engine's life) or a
    ``RegisterFile``, whose changes the engine picks up within
    ``masterkey.RELOAD_INTERVAL_SECONDS`` of the next call.
    """

    def __init__(
        self,
        master_key,
        key_cache_entries: int = KEY_CACHE_ENTRIES,
        policy: Policy = DEFAULT_POLICY,
    ):
        if isinstance(master_key, RegisterFile):
            self._register_file: Optional[RegisterFile] = master_key
            registers = master_key.registers
        else:
            self._register_file = None
            registers = master_key if isinstance(master_key, Registers) else Registers(master_key)
        self._policy = policy
        # NOTE: session ids and PIN blobs stay derived from the master key that was current at
        # start, so a rotation keeps sessions open. After a restart on a finalized new key, the
        # same store id and PIN give another session id, and older bound blobs stay closed.
        self._sessions = LoginSessions(registers.current)
        self._cache_limit = key_cache_entries
        self._cache_lock = threading.Lock()
        self._install_lock = threading.Lock()
        self._install(registers)

    # --- master key registers

    def _install(self, registers: Registers) -> None:
        """Seal and open under ``registers`` from now on; drop keys opened under older ones."""
        committed = registers.new if registers.committed else None
        sealer = Sealer(registers.current, committed)
        if registers.committed:
            self._rotation_window = True  # refuse calls before the new sealer is in place
        with self._cache_lock:
            self._sealer = sealer
            self._cache: "OrderedDict[bytes, Key]" = OrderedDict()
        self.wkid = registers.current.wkid
        self._registers = registers
        self._rotation_window = registers.committed

    @property
    def registers(self) -> Registers:
        """The master key registers in force."""
        return self._registers

    def reload_master_keys(self) -> Registers:
        """Re-read the master key file now (the engine also does so by itself)."""
        if self._register_file is not None:
            self._follow(self._register_file.poll(force=True))
        return self._registers

    def _follow(self, registers: Optional[Registers]) -> None:
        if registers is None:
            return
        with self._install_lock:
            # A later poll on another thread may have read a newer file meanwhile.
            if registers is self._register_file.registers:
                self._install(registers)

    def _reject_during_rotation(self) -> None:
        raise PKCS11Error(
            CKR.FUNCTION_CANCELED,
            f"calls are refused during a master key rotation: new master key "
            f"{self._registers.new.wkid.hex()} is committed, and only RewrapKeyBlob runs "
            "until the rotation is finalized or discarded",
        )

    # --- opening and sealing objects

    def _open(self, blob: Optional[bytes], role: Role, concatenated: bool = False) -> Key:
        """Open a key blob or public key object, from the cache when it was opened before.

        ``concatenated`` admits a concatenation of public key objects (see
        ``_concatenated_public_key``), which only verification takes.
        """
        if not blob:
            raise PKCS11Error(role.value, "no key blob was given")
        blob = bytes(blob)
        with self._cache_lock:
            key = self._cache.get(blob)
            if key is not None:
                self._cache.move_to_end(blob)
        if key is None:
            key = self._open_and_cache(blob, role)
        if key.concatenated and not concatenated:
            raise PKCS11Error(
                role.value, "a concatenation of public keys is accepted for verification only"
            )
        if key.object_class != CKO.PUBLIC_KEY:
            # A session-bound blob carries its session id in its first 32 bytes.
            self._sessions.require_open(blob[:32])
        return key

    def _open_and_cache(self, blob: bytes, role: Role) -> Key:
        sealer = self._sealer
        try:
            key = self._open_uncached(blob, sealer)
        except BlobError as error:
            code = CKR.IBM_WKID_MISMATCH if error.fault is BlobFault.WKID_MISMATCH else role.value
            raise PKCS11Error(code, str(error)) from None
        except (ValueError, struct.error, _crypto.CryptoError):
            raise PKCS11Error(role.value, "the key blob is malformed") from None
        with self._cache_lock:
            # A key opened under master key registers that changed meanwhile is not cached, and
            # neither is a concatenation, whose blob can be thousands of times a key's size.
            if sealer is self._sealer and not key.concatenated:
                self._cache[blob] = key
                if len(self._cache) > self._cache_limit:
                    self._cache.popitem(last=False)
        return key

    def _open_uncached(self, blob: bytes, sealer: Sealer) -> Key:
        # An EP11 session id never starts with 0x30, so a leading DER SEQUENCE is an SPKI.
        if blob[0] == 0x30:
            elements = [_public_key(opened, blob) for opened in sealer.open_public_keys(blob)]
            if len(elements) == 1:
                return elements[0]
            return _concatenated_public_key(elements, blob)
        opened = sealer.open_key(blob)
        (length,) = struct.unpack_from(">I", opened.payload, 0)
        value = opened.payload[4 : 4 + length]
        if len(value) != length:
            raise ValueError("truncated key value")
        # Booleans with an XCP_BLOB_* bit live only in the authenticated header.
        attributes = attributes_from_bits(opened.bits)
        attributes.update(decode_attributes(opened.payload[4 + length :]))
        return Key(attributes[CKA.CLASS], attributes[CKA.KEY_TYPE], attributes, value, blob)

    def _seal_key(
        self, attributes: dict, value: bytes, session: bytes = ZERO_SESSION, new: bool = True
    ) -> bytes:
        # CKA_IBM_LOGIN_SESSION in a template carries a PIN blob: it selects the session the new
        # blob is bound to and is removed from the attributes, so the PIN blob is never stored.
        pin_blob = attributes.pop(CKA.IBM_LOGIN_SESSION, None)
        if pin_blob is not None:
            session = self._sessions.session_of(pin_blob)
        self._policy.check_key(attributes, new)
        stored = {type_: v for type_, v in attributes.items() if type_ not in BLOB_BITS}
        payload = struct.pack(">I", len(value)) + value + encode_attributes(stored)
        return self._sealer.seal_key(payload, blob_bits(attributes), session)

    def _seal_public(self, spki: bytes, attributes: dict, new: bool = True) -> bytes:
        # Public keys stay unbound (see ep11core.sessions), so a PIN blob is dropped here.
        attributes.pop(CKA.IBM_LOGIN_SESSION, None)
        self._policy.check_key(attributes, new)
        return self._sealer.seal_public_key(spki, blob_bits(attributes))

    def _checked_key(
        self, blob, role: Role, spec: MechanismSpec, function: Function, expected_class=None
    ) -> Key:
        """Open a key and check its type, class and usage attribute against the mechanism.

        ``expected_class`` overrides the class that the mechanism's scheme implies.
        """
        key = self._open(blob, role, concatenated=function is Function.VERIFY)
        if key.key_type not in spec.key_types:
            raise PKCS11Error(
                TYPE_INCONSISTENT[role],
                f"{describe_mechanism(spec.mechanism)} does not take a key of type "
                f"{describe_key_type(key.key_type)}",
            )
        usage, asymmetric_class = USAGE[function]
        if expected_class is None:
            scheme = spec.sign or spec.cipher
            expected_class = asymmetric_class if scheme and scheme.asymmetric else CKO.SECRET_KEY
        if key.object_class != expected_class:
            raise PKCS11Error(
                TYPE_INCONSISTENT[role],
                f"{function.name.lower()} with {CKM(spec.mechanism).name} needs a "
                f"{CKO(expected_class).name} key, got {CKO(key.object_class).name}",
            )
        permitted = key.attributes.get(usage, False)
        if not permitted and function is Function.WRAP and not key.maced:
            permitted = self._policy.allows_raw_spki_wrap()
        if not permitted:
            raise PKCS11Error(
                CKR.KEY_FUNCTION_NOT_PERMITTED,
                f"the key's {CKA(usage).name} attribute is FALSE"
                + ("" if key.maced else " (a plain SPKI can only verify)"),
            )
        if self._policy.checks_use:
            self._policy.check_use(spec, key)
        return key

    # --- state blobs

    def _new_state(self, operation, spec, parameter, key_blob, context, updated=False) -> bytes:
        header = _STATE_HEADER.pack(
            operation, _STATE_UPDATED if updated else 0, spec.mechanism
        )
        payload = header + _pack_fields(encode_parameter(parameter), key_blob or b"", context)
        return self._sealer.seal_state(payload)

    def _load_state(self, state: bytes, operation: Operation) -> _State:
        if not state:
            raise PKCS11Error(CKR.OPERATION_NOT_INITIALIZED, "no state blob was given")
        try:
            opened = self._sealer.open_state(bytes(state))
        except BlobError as error:
            code = (
                CKR.IBM_WKID_MISMATCH
                if error.fault is BlobFault.WKID_MISMATCH
                else CKR.SAVED_STATE_INVALID
            )
            raise PKCS11Error(code, str(error)) from None
        try:
            found, flags, mechanism = _STATE_HEADER.unpack_from(opened.payload, 0)
            parameter_bytes, key_blob, context = _unpack_fields(
                opened.payload, _STATE_HEADER.size, 3
            )
            parameter = decode_parameter(parameter_bytes)
        except (ValueError, struct.error):
            raise PKCS11Error(CKR.SAVED_STATE_INVALID, "the state blob is malformed") from None
        if found != operation:
            raise PKCS11Error(
                CKR.OPERATION_NOT_INITIALIZED,
                f"the state belongs to a {Operation(found).name.lower()} operation, "
                f"not {operation.name.lower()}",
            )
        spec = MECHANISMS.get(mechanism)
        if spec is None:
            raise PKCS11Error(
                CKR.SAVED_STATE_INVALID,
                f"the state names unknown mechanism {describe_mechanism(mechanism)}",
            )
        concatenated = operation is Operation.VERIFY
        key = self._open(key_blob, Role.KEY, concatenated) if key_blob else None
        return _State(
            operation, spec, parameter, key, key_blob, context, bool(flags & _STATE_UPDATED)
        )

    @staticmethod
    def _require_fresh(state: _State, call: str) -> None:
        if state.updated:
            raise PKCS11Error(
                CKR.OPERATION_ACTIVE,
                f"{call} must follow the Init call directly; use the Final call after Update",
            )

    @staticmethod
    def _require_multi_part(state: _State) -> None:
        if state.spec.single_part:
            raise violation(
                Rule.SINGLE_PART_UPDATE,
                f"{CKM(state.spec.mechanism).name} is single-part only",
            )

    def _updated_state(self, state: _State, context: bytes) -> bytes:
        return self._new_state(
            state.operation, state.spec, state.parameter, state.key_blob, context, updated=True
        )

    # --- random and digest

    def generate_random(self, length: int) -> bytes:
        """Return ``length`` random bytes (1 to 1,000,000, as HPCS allows)."""
        if not 1 <= length <= MAX_RANDOM_BYTES:
            raise PKCS11Error(
                CKR.ARGUMENTS_BAD,
                f"GenerateRandom takes 1 to {MAX_RANDOM_BYTES} bytes, got {length}",
            )
        return _crypto.random_bytes(length)

    def digest_init(self, mechanism: Mechanism) -> bytes:
        spec = self._policy.lookup(mechanism.mechanism, Function.DIGEST)
        parameter = spec.parameter(mechanism.parameter)
        return self._new_state(Operation.DIGEST, spec, parameter, b"", spec.digest.start())

    def digest(self, state: bytes, data: bytes) -> bytes:
        loaded = self._load_state(state, Operation.DIGEST)
        self._require_fresh(loaded, "Digest")
        _reject_empty(data, "Digest")
        return loaded.spec.digest.once(data)

    def digest_update(self, state: bytes, data: bytes) -> bytes:
        loaded = self._load_state(state, Operation.DIGEST)
        _reject_empty(data, "DigestUpdate")
        context = loaded.spec.digest.update(loaded.context, data)
        return self._updated_state(loaded, context)

    def digest_key(self, state: bytes, key: bytes) -> bytes:
        """Feed the value of a secret key with CKA_IBM_USE_AS_DATA into a digest."""
        loaded = self._load_state(state, Operation.DIGEST)
        opened = self._open(key, Role.KEY)
        if opened.object_class != CKO.SECRET_KEY or not opened.attributes.get(
            CKA.IBM_USE_AS_DATA
        ):
            raise PKCS11Error(
                CKR.KEY_INDIGESTIBLE, "only secret keys with CKA_IBM_USE_AS_DATA can be digested"
            )
        context = loaded.spec.digest.update(loaded.context, opened.value)
        return self._updated_state(loaded, context)

    def digest_final(self, state: bytes) -> bytes:
        loaded = self._load_state(state, Operation.DIGEST)
        return loaded.spec.digest.final(loaded.context)

    def digest_single(self, mechanism: Mechanism, data: bytes) -> bytes:
        spec = self._policy.lookup(mechanism.mechanism, Function.DIGEST)
        spec.parameter(mechanism.parameter)
        return spec.digest.once(data)

    # --- encryption and decryption

    def _crypt_init(self, operation, mechanism, key) -> bytes:
        function = OPERATION_FUNCTION[operation]
        spec = self._policy.lookup(mechanism.mechanism, function)
        parameter = spec.parameter(mechanism.parameter)
        self._checked_key(key, Role.KEY, spec, function)
        return self._new_state(operation, spec, parameter, key, spec.cipher.start(parameter))

    def _crypt_update(self, operation, state, data) -> UpdateResult:
        loaded = self._load_state(state, operation)
        self._require_multi_part(loaded)
        encrypt = operation is Operation.ENCRYPT
        context, output = loaded.spec.cipher.update(loaded.key, loaded.context, data, encrypt)
        return UpdateResult(self._updated_state(loaded, context), output)

    def _crypt_final(self, operation, state) -> bytes:
        loaded = self._load_state(state, operation)
        self._require_multi_part(loaded)
        encrypt = operation is Operation.ENCRYPT
        return loaded.spec.cipher.final(loaded.key, loaded.context, encrypt)

    def encrypt_init(self, mechanism: Mechanism, key: bytes) -> bytes:
        return self._crypt_init(Operation.ENCRYPT, mechanism, key)

    def decrypt_init(self, mechanism: Mechanism, key: bytes) -> bytes:
        return self._crypt_init(Operation.DECRYPT, mechanism, key)

    def encrypt_update(self, state: bytes, data: bytes) -> UpdateResult:
        return self._crypt_update(Operation.ENCRYPT, state, data)

    def decrypt_update(self, state: bytes, data: bytes) -> UpdateResult:
        return self._crypt_update(Operation.DECRYPT, state, data)

    def encrypt_final(self, state: bytes) -> bytes:
        return self._crypt_final(Operation.ENCRYPT, state)

    def decrypt_final(self, state: bytes) -> bytes:
        return self._crypt_final(Operation.DECRYPT, state)

    def encrypt(self, state: bytes, data: bytes) -> bytes:
        loaded = self._load_state(state, Operation.ENCRYPT)
        self._require_fresh(loaded, "Encrypt")
        return loaded.spec.cipher.encrypt_once(loaded.key, loaded.parameter, data)

    def decrypt(self, state: bytes, data: bytes) -> bytes:
        loaded = self._load_state(state, Operation.DECRYPT)
        self._require_fresh(loaded, "Decrypt")
        return loaded.spec.cipher.decrypt_once(loaded.key, loaded.parameter, data)

    def encrypt_single(self, mechanism: Mechanism, key: bytes, data: bytes) -> bytes:
        spec = self._policy.lookup(mechanism.mechanism, Function.ENCRYPT)
        parameter = spec.parameter(mechanism.parameter)
        opened = self._checked_key(key, Role.KEY, spec, Function.ENCRYPT)
        return spec.cipher.encrypt_once(opened, parameter, data)

    def decrypt_single(self, mechanism: Mechanism, key: bytes, data: bytes) -> bytes:
        spec = self._policy.lookup(mechanism.mechanism, Function.DECRYPT)
        parameter = spec.parameter(mechanism.parameter)
        opened = self._checked_key(key, Role.KEY, spec, Function.DECRYPT)
        return spec.cipher.decrypt_once(opened, parameter, data)

    def reencrypt_single(
        self,
        decrypt_mechanism: Mechanism,
        encrypt_mechanism: Mechanism,
        decrypt_key: bytes,
        encrypt_key: bytes,
        data: bytes,
    ) -> bytes:
        """Decrypt under one key and encrypt under another; the plaintext never leaves."""
        decrypt_spec = self._policy.lookup(decrypt_mechanism.mechanism, Function.DECRYPT)
        encrypt_spec = self._policy.lookup(encrypt_mechanism.mechanism, Function.ENCRYPT)
        decrypt_parameter = decrypt_spec.parameter(decrypt_mechanism.parameter)
        encrypt_parameter = encrypt_spec.parameter(encrypt_mechanism.parameter)
        source = self._checked_key(decrypt_key, Role.KEY, decrypt_spec, Function.DECRYPT)
        target = self._checked_key(encrypt_key, Role.KEY, encrypt_spec, Function.ENCRYPT)
        plain = decrypt_spec.cipher.decrypt_once(source, decrypt_parameter, data)
        return encrypt_spec.cipher.encrypt_once(target, encrypt_parameter, plain)

    # --- signatures

    def _sign_init(self, operation, mechanism, key) -> bytes:
        function = OPERATION_FUNCTION[operation]
        spec = self._policy.lookup(mechanism.mechanism, function)
        parameter = spec.parameter(mechanism.parameter)
        opened = self._signing_key(key, spec, function)
        context = spec.sign.start(opened, parameter)
        return self._new_state(operation, spec, parameter, key, context)

    def _sign_update(self, operation, state, data) -> bytes:
        loaded = self._load_state(state, operation)
        self._require_multi_part(loaded)
        context = loaded.spec.sign.update(loaded.key, loaded.context, data)
        return self._updated_state(loaded, context)

    def sign_init(self, mechanism: Mechanism, key: bytes) -> bytes:
        return self._sign_init(Operation.SIGN, mechanism, key)

    def verify_init(self, mechanism: Mechanism, key: bytes) -> bytes:
        return self._sign_init(Operation.VERIFY, mechanism, key)

    def sign_update(self, state: bytes, data: bytes) -> bytes:
        return self._sign_update(Operation.SIGN, state, data)

    def verify_update(self, state: bytes, data: bytes) -> bytes:
        return self._sign_update(Operation.VERIFY, state, data)

    def sign_final(self, state: bytes) -> bytes:
        loaded = self._load_state(state, Operation.SIGN)
        self._require_multi_part(loaded)
        return loaded.spec.sign.sign_final(loaded.key, loaded.parameter, loaded.context)

    def verify_final(self, state: bytes, signature: bytes) -> None:
        loaded = self._load_state(state, Operation.VERIFY)
        self._require_multi_part(loaded)
        loaded.spec.sign.verify_final(loaded.key, loaded.parameter, loaded.context, signature)

    def sign(self, state: bytes, data: bytes) -> bytes:
        loaded = self._load_state(state, Operation.SIGN)
        self._require_fresh(loaded, "Sign")
        return loaded.spec.sign.sign_once(loaded.key, loaded.parameter, data)

    def verify(self, state: bytes, data: bytes, signature: bytes) -> None:
        loaded = self._load_state(state, Operation.VERIFY)
        self._require_fresh(loaded, "Verify")
        loaded.spec.sign.verify_once(loaded.key, loaded.parameter, data, signature)

    def _signing_key(self, key, spec: MechanismSpec, function: Function) -> Optional[Key]:
        """Open the key of a sign or verify call. A scheme that takes no key ignores ``key``."""
        if not spec.sign.needs_key:
            return None
        return self._checked_key(key, Role.KEY, spec, function)

    def sign_single(self, mechanism: Mechanism, key: Optional[bytes], data: bytes) -> bytes:
        """Sign ``data`` in one call. CKM_IBM_EC_AGGREGATE takes no key (``key`` empty)."""
        spec = self._policy.lookup(mechanism.mechanism, Function.SIGN)
        parameter = spec.parameter(mechanism.parameter)
        opened = self._signing_key(key, spec, Function.SIGN)
        return spec.sign.sign_once(opened, parameter, data)

    def verify_single(
        self, mechanism: Mechanism, key: bytes, data: bytes, signature: bytes
    ) -> None:
        spec = self._policy.lookup(mechanism.mechanism, Function.VERIFY)
        parameter = spec.parameter(mechanism.parameter)
        opened = self._signing_key(key, spec, Function.VERIFY)
        spec.sign.verify_once(opened, parameter, data, signature)

    # --- key generation

    def generate_key(self, mechanism: Mechanism, template: dict) -> KeyResult:
        spec = self._policy.lookup(mechanism.mechanism, Function.GENERATE)
        spec.parameter(mechanism.parameter)
        attributes = normalize_template(template)
        key_type = spec.generator.key_type
        if isinstance(spec.generator, DomainParameterGenerator):
            return _domain_parameters(spec.generator, attributes)
        _check_class_and_type(attributes, CKO.SECRET_KEY, key_type, "key template")
        check_template(attributes, CKO.SECRET_KEY, key_type)
        value = spec.generator.generate(attributes)
        attributes = _new_key_attributes(
            CKO.SECRET_KEY, key_type, attributes, spec.mechanism, local=True
        )
        attributes[CKA.VALUE_LEN] = len(value)
        blob = self._seal_key(attributes, value)
        return KeyResult(blob, secret_checksum(key_type, value), dict(attributes))

    def generate_key_pair(
        self, mechanism: Mechanism, public_template: dict, private_template: dict
    ) -> KeyPair:
        spec = self._policy.lookup(mechanism.mechanism, Function.GENERATE_KEY_PAIR)
        spec.parameter(mechanism.parameter)
        public = normalize_template(public_template)
        private = normalize_template(private_template)
        key_type = spec.generator.key_type
        _check_class_and_type(public, CKO.PUBLIC_KEY, key_type, "public key template")
        _check_class_and_type(private, CKO.PRIVATE_KEY, key_type, "private key template")
        self._policy.check_key_pair_templates(key_type, private)
        check_template(public, CKO.PUBLIC_KEY, key_type)
        check_template(private, CKO.PRIVATE_KEY, key_type)
        pkey = spec.generator.generate(public, private)
        properties = public_properties(pkey)
        private_attributes = _new_key_attributes(
            CKO.PRIVATE_KEY, key_type, private, spec.mechanism, local=True
        )
        private_attributes.update(properties)
        public_attributes = key_defaults(CKO.PUBLIC_KEY, key_type)
        public_attributes.update(public)
        public_attributes.update({CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: key_type})
        public_attributes.update(properties)
        private_blob = self._seal_key(private_attributes, pkey.pkcs8())
        public_blob = self._seal_public(pkey.spki(), public_attributes)
        return KeyPair(
            private_blob,
            public_blob,
            dict(private_attributes),
            dict(public_attributes),
        )

    # --- wrapping

    def wrap_key(
        self,
        mechanism: Mechanism,
        key: bytes,
        kek: bytes,
        mac_key: Optional[bytes] = None,
    ) -> bytes:
        """Encrypt an extractable key under a key-encryption key.

        Secret keys are wrapped as their raw value, private keys as DER PKCS #8.
        """
        spec = self._policy.lookup(mechanism.mechanism, Function.WRAP)
        parameter = spec.parameter(mechanism.parameter)
        if spec.bound_wrap is not None:
            return self._wrap_attribute_bound(spec, key, kek, mac_key)
        wrapping_key = self._checked_key(kek, Role.WRAPPING_KEY, spec, Function.WRAP)
        target = self._open(key, Role.KEY)
        if target.object_class == CKO.PUBLIC_KEY:
            raise PKCS11Error(CKR.KEY_NOT_WRAPPABLE, "public keys are not wrapped")
        if not target.attributes.get(CKA.EXTRACTABLE, False):
            raise PKCS11Error(CKR.KEY_UNEXTRACTABLE, "the key's CKA_EXTRACTABLE is FALSE")
        if target.attributes.get(CKA.IBM_ATTRBOUND, False):
            raise PKCS11Error(
                CKR.KEY_NOT_WRAPPABLE,
                "a key with CKA_IBM_ATTRBOUND is wrapped with CKM_IBM_ATTRIBUTEBOUND_WRAP only",
            )
        self._policy.check_wrap_strength(wrapping_key, target)
        try:
            return spec.cipher.encrypt_once(wrapping_key, parameter, target.value)
        except PKCS11Error as error:
            if error.code == CKR.DATA_LEN_RANGE:
                raise PKCS11Error(
                    CKR.KEY_SIZE_RANGE,
                    f"a {len(target.value)}-byte key cannot be wrapped with "
                    f"{CKM(spec.mechanism).name} under this key",
                ) from None
            raise

    def unwrap_key(
        self,
        mechanism: Mechanism,
        wrapped: bytes,
        kek: bytes,
        template: dict,
        mac_key: Optional[bytes] = None,
    ) -> KeyResult:
        """Decrypt a wrapped key and seal it as a new blob with the template's attributes."""
        spec = self._policy.lookup(mechanism.mechanism, Function.UNWRAP)
        parameter = spec.parameter(mechanism.parameter)
        attributes = normalize_template(template)
        if spec.transport is not None:
            return self._import_public_key(wrapped, attributes)
        if spec.bound_wrap is not None:
            return self._unwrap_attribute_bound(spec, wrapped, kek, attributes, mac_key)
        unwrapping_key = self._checked_key(kek, Role.UNWRAPPING_KEY, spec, Function.UNWRAP)
        object_class = attributes.get(CKA.CLASS)
        key_type = attributes.get(CKA.KEY_TYPE)
        if object_class is None or key_type is None:
            raise PKCS11Error(
                CKR.TEMPLATE_INCOMPLETE, "UnwrapKey needs CKA_CLASS and CKA_KEY_TYPE"
            )
        check_template(attributes, object_class, key_type)
        try:
            value = spec.cipher.decrypt_once(unwrapping_key, parameter, bytes(wrapped))
        except PKCS11Error as error:
            code = {
                CKR.ENCRYPTED_DATA_LEN_RANGE: CKR.WRAPPED_KEY_LEN_RANGE,
                CKR.ENCRYPTED_DATA_INVALID: CKR.WRAPPED_KEY_INVALID,
            }.get(error.code, error.code)
            raise PKCS11Error(code, error.detail) from None
        if object_class == CKO.SECRET_KEY:
            value = _unwrapped_secret(key_type, value, attributes, spec.cipher.exact_length)
            attributes = _new_key_attributes(
                CKO.SECRET_KEY, key_type, attributes, None, local=False
            )
            attributes[CKA.VALUE_LEN] = len(value)
            self._policy.check_unwrap_strength(unwrapping_key, attributes)
            blob = self._seal_key(attributes, value)
            return KeyResult(blob, secret_checksum(key_type, value), dict(attributes))
        if object_class == CKO.PRIVATE_KEY:
            pkey = _unwrapped_private_key(key_type, value)
            attributes = _new_key_attributes(
                CKO.PRIVATE_KEY, key_type, attributes, None, local=False
            )
            attributes.update(public_properties(pkey))
            self._policy.check_unwrap_strength(unwrapping_key, attributes)
            blob = self._seal_key(attributes, pkey.pkcs8())
            # NOTE: EP11 documents no checksum output for unwrapped private keys; we return none.
            return KeyResult(blob, b"", dict(attributes))
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT,
            f"cannot unwrap an object of class {object_class:#x}; public keys are imported "
            "with CKM_IBM_TRANSPORTKEY",
        )

    def _wrap_attribute_bound(self, spec, key, kek, mac_key) -> bytes:
        """Wrap a key with its attributes (see ``mechanisms.attrbound``)."""
        scheme = spec.bound_wrap
        kek_class = scheme.kek_class(self._open(kek, Role.WRAPPING_KEY).key_type, wrap=True)
        wrapping_key = self._checked_key(kek, Role.WRAPPING_KEY, spec, Function.WRAP, kek_class)
        scheme.check_kek(wrapping_key)
        mac_value = scheme.check_mac_key(self._open(mac_key, Role.KEY))
        target = self._open(key, Role.KEY)
        if target.object_class == CKO.PUBLIC_KEY:
            raise PKCS11Error(CKR.KEY_NOT_WRAPPABLE, "public keys are not wrapped")
        if not target.attributes.get(CKA.EXTRACTABLE, False):
            raise PKCS11Error(CKR.KEY_UNEXTRACTABLE, "the key's CKA_EXTRACTABLE is FALSE")
        self._policy.check_wrap_strength(wrapping_key, target)
        return scheme.wrap(wrapping_key, mac_value, target)

    def _unwrap_attribute_bound(self, spec, wrapped, kek, template, mac_key) -> KeyResult:
        """Restore a key and its attributes; the template names only class and key type."""
        scheme = spec.bound_wrap
        kek_class = scheme.kek_class(self._open(kek, Role.UNWRAPPING_KEY).key_type, wrap=False)
        unwrapping_key = self._checked_key(
            kek, Role.UNWRAPPING_KEY, spec, Function.UNWRAP, kek_class
        )
        scheme.check_kek(unwrapping_key)
        mac_value = scheme.check_mac_key(self._open(mac_key, Role.KEY))
        object_class, key_type, attributes, value = scheme.unwrap(
            unwrapping_key, mac_value, bytes(wrapped)
        )
        _check_class_and_type(template, object_class, key_type, "template")
        # The login session belongs to this call, not to the wrapped key, so it still applies.
        if CKA.IBM_LOGIN_SESSION in template:
            attributes[CKA.IBM_LOGIN_SESSION] = template[CKA.IBM_LOGIN_SESSION]
        # As for every unwrapped key, the value was outside this HSM.
        attributes.update(
            {CKA.LOCAL: False, CKA.NEVER_EXTRACTABLE: False, CKA.ALWAYS_SENSITIVE: False}
        )
        self._policy.check_unwrap_strength(unwrapping_key, attributes)
        blob = self._seal_key(attributes, value)
        checksum = secret_checksum(key_type, value) if object_class == CKO.SECRET_KEY else b""
        return KeyResult(blob, checksum, dict(attributes))

    def _import_public_key(self, spki: bytes, template: dict) -> KeyResult:
        """CKM_IBM_TRANSPORTKEY: turn a plain SPKI into a MACed SPKI; the KEK is ignored."""
        for type_ in template:
            if type_ not in (CKA.CLASS, CKA.KEY_TYPE) and ATTRIBUTES[type_].kind is not Kind.BOOL:
                raise PKCS11Error(
                    CKR.TEMPLATE_INCONSISTENT,
                    f"CKM_IBM_TRANSPORTKEY takes Boolean attributes only, not {CKA(type_).name}",
                )
        try:
            pkey = load_spki(bytes(spki))
        except _crypto.CryptoError:
            raise PKCS11Error(
                CKR.WRAPPED_KEY_INVALID, "the wrapped data is not a DER SubjectPublicKeyInfo"
            ) from None
        key_type = PKEY_KEY_TYPES[pkey.key_type]
        _check_class_and_type(template, CKO.PUBLIC_KEY, key_type, "template")
        if pkey.curve is not None and pkey.curve not in CURVE_BY_OPENSSL_NAME:
            raise PKCS11Error(CKR.CURVE_NOT_SUPPORTED, f"curve {pkey.curve} is not supported")
        attributes = key_defaults(CKO.PUBLIC_KEY, key_type)
        attributes.update(template)
        attributes.update({CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: key_type})
        attributes.update(public_properties(pkey))
        spki_der = pkey.spki()
        blob = self._seal_public(spki_der, attributes)
        checksum = spki_der + pkey.bits.to_bytes(4, "big")
        return KeyResult(blob, checksum, dict(attributes))

    def derive_key(
        self, mechanism: Mechanism, base_key: Optional[bytes], data: bytes, template: dict
    ) -> KeyResult:
        """Derive a new key from a base key (and data) and seal it with the template.

        A scheme that takes no base key (CKM_IBM_EC_AGGREGATE) ignores ``base_key``.
        """
        spec = self._policy.lookup(mechanism.mechanism, Function.DERIVE)
        parameter = spec.parameter(mechanism.parameter)
        attributes = normalize_template(template)
        scheme = spec.derive
        base = None
        if scheme.needs_base_key:
            base_class = scheme.base_key_class(parameter)
            base = self._checked_key(base_key, Role.KEY, spec, Function.DERIVE, base_class)
        parameter = scheme.open_parameter_keys(parameter, lambda blob: self._open(blob, Role.KEY))
        derived = scheme.derive(base, parameter, bytes(data or b""), attributes)
        check_template(attributes, derived.object_class, derived.key_type)
        if derived.object_class == CKO.PUBLIC_KEY:
            public_attributes = key_defaults(CKO.PUBLIC_KEY, derived.key_type)
            public_attributes.update(attributes)
            public_attributes.update(
                {CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: derived.key_type}
            )
            public_attributes.update(derived.properties)
            blob = self._seal_public(derived.value, public_attributes)
            return KeyResult(blob, derived.checksum or b"", dict(public_attributes))
        attributes = _new_key_attributes(
            derived.object_class, derived.key_type, attributes, None, local=False
        )
        attributes.update(derived.properties)
        if derived.object_class == CKO.SECRET_KEY:
            attributes[CKA.VALUE_LEN] = len(derived.value)
        blob = self._seal_key(attributes, derived.value)
        checksum = derived.checksum
        if checksum is None and derived.object_class == CKO.SECRET_KEY:
            checksum = secret_checksum(derived.key_type, derived.value)
        return KeyResult(blob, checksum or b"", dict(attributes))

    # --- mechanisms

    def get_mechanism_list(self) -> List[int]:
        """Return the mechanisms of the table that the policy leaves enabled."""
        return [int(row.mechanism) for row in self._policy.mechanism_rows]

    def get_mechanism_info(self, mechanism: int) -> MechanismInfo:
        spec = self._policy.mechanisms.get(mechanism)
        if spec is None:
            reason = self._policy.disabling(mechanism) if mechanism in MECHANISMS else None
            if reason is not None:
                raise violation(
                    Rule.MECHANISM_DISABLED,
                    f"mechanism {describe_mechanism(mechanism)} is disabled by {reason}",
                )
            raise PKCS11Error(
                CKR.MECHANISM_INVALID,
                f"mechanism {describe_mechanism(mechanism)} is not supported",
            )
        return spec.info()

    # --- attributes

    def get_attribute_value(self, obj: bytes, types: Iterable[int]) -> Dict[int, object]:
        """Read attributes of a key blob or public key; key values are never returned."""
        key = self._open(obj, Role.OBJECT)
        values = {}
        for type_ in types:
            values[int(type_)] = self._attribute(key, int(type_))
        return values

    def _attribute(self, key: Key, type_: int):
        secret_or_private = key.object_class != CKO.PUBLIC_KEY
        if type_ == CKA.VALUE and secret_or_private:
            raise PKCS11Error(CKR.ATTRIBUTE_SENSITIVE, "key values never leave the HSM")
        if type_ in key.attributes:
            return key.attributes[type_]
        if type_ == CKA.IBM_LOGIN_SESSION:
            return key.blob[:32] if secret_or_private else ZERO_SESSION
        if type_ == CKA.GREP11_WKID and secret_or_private:
            return key.blob[32:48]
        if type_ == CKA.CHECK_VALUE and key.object_class == CKO.SECRET_KEY:
            return secret_checksum(key.key_type, key.value)[:3]
        if type_ == CKA.PUBLIC_KEY_INFO and key.object_class != CKO.SECRET_KEY:
            return key.pkey.spki()
        if type_ == CKA.IBM_MACED_PUBLIC_KEY_INFO and key.object_class == CKO.PRIVATE_KEY:
            # NOTE: the public key gets the default usage flags, so with control points 39 to 41
            # off, an RSA key's MACed SPKI fails the mixed-usage rule.
            public_attributes = key_defaults(CKO.PUBLIC_KEY, key.key_type)
            return self._seal_public(key.pkey.spki(), public_attributes)
        if type_ == CKA.MODULUS and key.key_type == CKK.RSA:
            return key.pkey.modulus
        if type_ == CKA.EC_POINT and key.key_type == CKK.EC:
            return der_octet_string(key.pkey.ec_point)
        raise PKCS11Error(
            CKR.ATTRIBUTE_TYPE_INVALID, f"attribute {type_:#x} is not available for this object"
        )

    def set_attribute_value(self, obj: bytes, attributes: dict) -> bytes:
        """Change Boolean attributes under the EP11 one-way rules; return the new object."""
        key = self._open(obj, Role.OBJECT)
        changes = normalize_template(attributes)
        if key.object_class == CKO.PUBLIC_KEY and not key.maced:
            raise PKCS11Error(CKR.OBJECT_HANDLE_INVALID, "a plain SPKI carries no attributes")
        if changes:
            self._policy.check_modify()
        if changes and not key.attributes.get(CKA.MODIFIABLE, True):
            raise PKCS11Error(CKR.ACTION_PROHIBITED, "the key's CKA_MODIFIABLE is FALSE")
        updated = dict(key.attributes)
        for type_, value in changes.items():
            spec = ATTRIBUTES[type_]
            if spec.blob_bit is None:
                raise PKCS11Error(
                    CKR.ATTRIBUTE_READ_ONLY, f"{CKA(type_).name} cannot be changed"
                )
            current = bool(updated.get(type_, False))
            if value == current:
                continue
            allowed = spec.can_set if value else spec.can_clear
            if value and updated.get(CKA.IBM_RESTRICTABLE):
                allowed = False
            if not allowed:
                direction = "TRUE" if value else "FALSE"
                raise violation(
                    Rule.ONE_WAY_ATTRIBUTE, f"{CKA(type_).name} cannot be set to {direction}"
                )
            updated[type_] = value
        if key.object_class == CKO.PUBLIC_KEY:
            return self._seal_public(key.value, updated, new=False)
        return self._seal_key(updated, key.value, key.blob[:32], new=False)

    # --- sessions and master keys

    def login(self, store_id: bytes, pin: bytes) -> bytes:
        """Open the login session of (store id, PIN) and return its 80-byte PIN blob.

        See ``ep11core.sessions`` for how keys bind to a session.
        """
        return self._sessions.login(store_id, pin)

    def logout(self) -> None:
        """Close every login session; blobs bound to one fail with CKR_SESSION_CLOSED."""
        self._sessions.logout_all()

    def rewrap_key_blob(self, blob: bytes) -> bytes:
        """Reseal a key blob or MACed SPKI under the committed new master key.

        The result has the length of the input. Without a committed new master key the blob is
        still checked, then CKR_IBM_WK_NOT_INITIALIZED is raised.
        """
        sealer = self._sealer
        if sealer.next_wkid is None:
            self._open(blob, Role.KEY)
            detail = "no new master key is committed"
            if self._registers.new_state is NewKeyState.PENDING:
                detail += "; the pending new master key must be committed first"
            raise PKCS11Error(CKR.IBM_WK_NOT_INITIALIZED, detail)
        if not blob:
            raise PKCS11Error(Role.KEY.value, "no key blob was given")
        try:
            return sealer.rewrap(bytes(blob))
        except BlobError as error:
            code = (
                CKR.IBM_WKID_MISMATCH
                if error.fault is BlobFault.WKID_MISMATCH
                else Role.KEY.value
            )
            raise PKCS11Error(code, str(error)) from None
        except (ValueError, struct.error):
            raise PKCS11Error(Role.KEY.value, "the key blob is malformed") from None


# --- helpers of the verbs


def der_octet_string(value: bytes) -> bytes:
    """DER-encode an OCTET STRING, the form in which CKA_EC_POINT contains the point."""
    length = len(value)
    if length < 0x80:
        header = bytes((0x04, length))
    else:
        size = (length.bit_length() + 7) // 8
        header = bytes((0x04, 0x80 | size)) + length.to_bytes(size, "big")
    return header + value


def _public_key(opened, blob: bytes) -> Key:
    """Return the key object of one opened public key (``blobs.OpenedPublicKey``)."""
    pkey = load_spki(opened.spki)
    key_type = PKEY_KEY_TYPES[pkey.key_type]
    if opened.maced:
        attributes = dict(attributes_from_bits(opened.bits))
    else:
        # A plain SPKI (from a certificate, say) is good for verification only.
        attributes = {flag: False for flag in BLOB_BITS}
        attributes[CKA.VERIFY] = True
    attributes.update({CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: key_type})
    attributes.update(public_properties(pkey))
    return Key(CKO.PUBLIC_KEY, key_type, attributes, opened.spki, blob, opened.maced, pkey)


def _concatenated_public_key(elements: List[Key], blob: bytes) -> Key:
    """Return the key that a concatenation of public key objects represents.

    Only BLS12-381 public keys concatenate, and the result is their sum, the aggregate public
    key of BLS aggregate verification. Every element must carry a MAC, because the engine then
    vouches for each of them, and a Boolean attribute is TRUE only when every element has it.
    """
    if not all(element.maced for element in elements):
        raise BlobError(
            BlobFault.MALFORMED, "every public key of a concatenation must be a MACed SPKI"
        )
    try:
        pkey = aggregate_public_keys(element.pkey for element in elements)
    except _crypto.KeyFormatError as error:
        raise BlobError(BlobFault.MALFORMED, str(error)) from None
    attributes = dict(elements[0].attributes)
    for flag in BLOB_BITS:
        attributes[flag] = all(element.attributes.get(flag, False) for element in elements)
    return Key(
        CKO.PUBLIC_KEY,
        elements[0].key_type,
        attributes,
        pkey.spki(),
        blob,
        maced=True,
        _pkey=pkey,
        concatenated=True,
    )


def _reject_empty(data: bytes, call: str) -> None:
    # HPCS documents that Digest and DigestUpdate reject empty input; DigestSingle is not
    # listed, so it hashes empty data like any other.
    if not data:
        raise PKCS11Error(CKR.ARGUMENTS_BAD, f"{call} needs at least one byte of data")


def _check_class_and_type(template, object_class, key_type, what) -> None:
    found_class = template.get(CKA.CLASS, object_class)
    if found_class != object_class:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT,
            f"the {what} names class {found_class:#x}, expected {CKO(object_class).name}",
        )
    found_type = template.get(CKA.KEY_TYPE, key_type)
    compatible = {key_type}
    if key_type == CKK.GENERIC_SECRET:
        compatible |= {CKK.SHA_1_HMAC, CKK.SHA224_HMAC, CKK.SHA256_HMAC, CKK.SHA384_HMAC,
                       CKK.SHA512_HMAC}
    if found_type not in compatible:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT,
            f"the {what} names key type {describe_key_type(found_type)}, expected "
            f"{describe_key_type(key_type)}",
        )


def _new_key_attributes(object_class, key_type, template, mechanism, local) -> dict:
    """Combine defaults, the template and the attributes only the HSM sets."""
    attributes = key_defaults(object_class, key_type)
    attributes.update(template)
    attributes.update(
        {
            CKA.CLASS: object_class,
            CKA.KEY_TYPE: key_type,
            CKA.LOCAL: local,
            # Unwrapped keys were outside the HSM, so they were never guaranteed sensitive.
            CKA.NEVER_EXTRACTABLE: local and not attributes.get(CKA.EXTRACTABLE, False),
            CKA.ALWAYS_SENSITIVE: local and bool(attributes.get(CKA.SENSITIVE, False)),
        }
    )
    if mechanism is not None:
        attributes[CKA.KEY_GEN_MECHANISM] = int(mechanism)
    return attributes


def _domain_parameters(generator: DomainParameterGenerator, template: dict) -> KeyResult:
    """Generate DSA or DH domain parameters, returned in clear with no checksum as EP11 does."""
    key_type = generator.key_type
    _check_class_and_type(template, CKO.DOMAIN_PARAMETERS, key_type, "parameter template")
    check_template(template, CKO.DOMAIN_PARAMETERS, key_type)
    value = generator.generate(template)
    attributes = {
        CKA.CLASS: CKO.DOMAIN_PARAMETERS,
        CKA.KEY_TYPE: key_type,
        CKA.PRIME_BITS: template[CKA.PRIME_BITS],
        CKA.LOCAL: True,
    }
    return KeyResult(value, b"", attributes)



def _unwrapped_secret(key_type: int, value: bytes, template: dict, exact: bool) -> bytes:
    """Check an unwrapped secret value against the template; trim unpadded block padding.

    DES keys ignore CKA_VALUE_LEN because their type sets the length, and get odd parity.
    """
    lengths = SECRET_KEY_LENGTHS.get(key_type)
    if lengths is None:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT,
            f"unwrapping secret keys of type {describe_key_type(key_type)} is not supported",
        )
    length = DES_KEY_LENGTHS.get(key_type, template.get(CKA.VALUE_LEN))
    if length is not None and length != len(value):
        # Only ECB and CBC without padding may return block padding after the key.
        if exact or length > len(value):
            if key_type in DES_KEY_LENGTHS:
                raise PKCS11Error(
                    CKR.WRAPPED_KEY_INVALID,
                    f"a {CKK(key_type).name} key is {length} bytes, got {len(value)}",
                )
            raise PKCS11Error(
                CKR.TEMPLATE_INCONSISTENT,
                f"CKA_VALUE_LEN {length} does not match the {len(value)}-byte unwrapped key",
            )
        value = value[:length]
    if len(value) not in lengths:
        raise PKCS11Error(
            CKR.WRAPPED_KEY_INVALID,
            f"a key of type {CKK(key_type).name} cannot be {len(value)} bytes long",
        )
    return normalize_secret_value(key_type, value)


def _unwrapped_private_key(key_type: int, value: bytes):
    try:
        pkey = load_pkcs8(value)
    except _crypto.CryptoError as error:
        raise PKCS11Error(
            CKR.WRAPPED_KEY_INVALID,
            f"the unwrapped data is not a valid DER PKCS #8 private key: {error}",
        ) from None
    found = PKEY_KEY_TYPES.get(pkey.key_type)
    if found != key_type:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT,
            f"the unwrapped key is {pkey.key_type}, but the template says key type "
            f"{describe_key_type(key_type)}",
        )
    if pkey.curve is not None and pkey.curve not in CURVE_BY_OPENSSL_NAME:
        raise PKCS11Error(CKR.CURVE_NOT_SUPPORTED, f"curve {pkey.curve} is not supported")
    return pkey


# --- admission of the public verbs

# Methods that are not EP11 verbs and run without admission.
_NOT_VERBS = frozenset({"reload_master_keys"})


def _admitted(verb):
    """Wrap ``verb``: follow the master key file, and refuse it while a rotation is committed."""
    runs_in_window = verb.__name__ in ROTATION_WINDOW_VERBS
    monotonic = time.monotonic

    @functools.wraps(verb)
    def admitted(self, *args, **kwargs):
        register_file = self._register_file
        if register_file is not None and monotonic() >= register_file.next_check:
            self._follow(register_file.poll())
        if self._rotation_window and not runs_in_window:
            self._reject_during_rotation()
        return verb(self, *args, **kwargs)

    return admitted


# Wrapping every public method here keeps admission in one place, verbs added later included.
for _name, _member in list(vars(Engine).items()):
    if not _name.startswith("_") and inspect.isfunction(_member) and _name not in _NOT_VERBS:
        setattr(Engine, _name, _admitted(_member))
