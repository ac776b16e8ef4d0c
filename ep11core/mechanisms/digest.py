"""Digest mechanisms: SHA-1, SHA-2 (with SHA-512/224 and SHA-512/256) and SHA-3."""

from .. import _crypto
from .base import Function, MechanismSpec
from .parameters import DIGEST_OF_MECHANISM


class DigestScheme:
    """A hash with a serialisable context.

    SHA-3 contexts hold the Keccak state and the partial block, so multi-part SHA-3 keeps no
    input in the state blob.
    """

    def __init__(self, hash_name: str):
        self.hash_name = hash_name

    def once(self, data: bytes) -> bytes:
        return _crypto.digest(self.hash_name, data)

    def start(self) -> bytes:
        return _crypto.hash_init(self.hash_name)

    def update(self, context: bytes, data: bytes) -> bytes:
        return _crypto.hash_update(self.hash_name, context, data)

    def final(self, context: bytes) -> bytes:
        return _crypto.hash_final(self.hash_name, context)



ROWS = [
    MechanismSpec(hash_mechanism, Function.DIGEST, digest=DigestScheme(hash_name))
    for hash_mechanism, (hash_name, _size) in DIGEST_OF_MECHANISM.items()
]
