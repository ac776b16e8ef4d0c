"""Sign schemes shared by the asymmetric families."""

from .. import _crypto
from .base import SIGN_VERIFY, MechanismSpec, SignScheme
from .parameters import HASH_OF_MECHANISM


class HashThenSignScheme(SignScheme):
    """Hash the data (with a serialisable context), then sign the digest."""

    def __init__(self, hash_name: str, signer):
        self.hash_name = hash_name
        self.signer = signer

    def start(self, key, parameter):
        return _crypto.hash_init(self.hash_name)

    def update(self, key, context, data):
        return _crypto.hash_update(self.hash_name, context, data)

    def sign_final(self, key, parameter, context):
        return self.signer.sign(key, parameter, _crypto.hash_final(self.hash_name, context))

    def verify_final(self, key, parameter, context, signature):
        digest = _crypto.hash_final(self.hash_name, context)
        self.signer.verify(key, parameter, digest, signature)

    def sign_once(self, key, parameter, data):
        return self.signer.sign(key, parameter, _crypto.digest(self.hash_name, data))

    def verify_once(self, key, parameter, data, signature):
        digest = _crypto.digest(self.hash_name, data)
        self.signer.verify(key, parameter, digest, signature)



class RawSignScheme(SignScheme):
    """Sign the data as given; single-part only, so the context is the data itself."""

    single_part = True

    def __init__(self, signer):
        self.signer = signer

    def start(self, key, parameter):
        return b""

    def update(self, key, context, data):
        return context + data

    def sign_final(self, key, parameter, context):
        return self.signer.sign(key, parameter, context)

    def verify_final(self, key, parameter, context, signature):
        self.signer.verify(key, parameter, context, signature)


def hash_then_sign_rows(signer, hashed_mechanisms, **sizes) -> list:
    """Build a sign and verify row for each (mechanism, hash mechanism) pair.

    Each row hashes the data with the pair's hash (``HashThenSignScheme``) and signs the digest
    with ``signer``. ``sizes`` are the remaining ``MechanismSpec`` fields of every row.
    """
    return [
        MechanismSpec(
            mechanism,
            SIGN_VERIFY,
            sign=HashThenSignScheme(HASH_OF_MECHANISM[hash_mechanism][0], signer),
            **sizes,
        )
        for mechanism, hash_mechanism in hashed_mechanisms
    ]
