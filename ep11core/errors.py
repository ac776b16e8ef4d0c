"""The one exception type the engine raises to its callers."""

from .constants import ckr_name


class PKCS11Error(Exception):
    """An EP11 call failed with a PKCS #11 return value.

    ``code`` is the CK_RV (a standard or IBM vendor CKR value) and ``detail`` a sentence for
    humans. The GREP11 server sends ``code`` as ``Grep11Error.Code`` and the CKR name as the
    gRPC status message.
    """

    def __init__(self, code: int, detail: str = ""):
        self.code = int(code)
        self.detail = detail
        super().__init__(f"{ckr_name(self.code)}: {detail}" if detail else ckr_name(self.code))

    @property
    def name(self) -> str:
        return ckr_name(self.code)
