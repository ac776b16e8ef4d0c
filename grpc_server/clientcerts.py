"""Client-certificate checks of the second layer of authentication (mutual TLS).

The trust store is the union of every administrator's CA certificates in the certificate manager
(``certmgr.store.CertificateStore``). While it is empty, calls need no client certificate. While
it contains any CA, a call needs a client certificate that

- chains to a stored CA, directly or through intermediates the client sends; a stored
  intermediate CA is a trust anchor of its own, so clients may send the leaf alone;
- is an X.509 v3 certificate within its validity period, as is every certificate of the chain;
- allows client authentication: an extendedKeyUsage extension, when present, lists clientAuth
  or anyExtendedKeyUsage.

Path validation is RFC 5280 as the ``cryptography`` package implements it
(``cryptography.x509.verification``), with its web PKI extension rules relaxed to the ones above:
issuers need basicConstraints, the leaf needs no subjectAltName. Revocation (CRL, OCSP) is not
checked.

``ClientCertificatePolicy.check`` runs once per call. It asks the store for its change counter
first, which is one small SQLite read, and reloads the CA certificates only when the counter
moved, so an upload or a deletion applies to the next call without a restart.
"""

import datetime
import logging
import threading
from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

logger = logging.getLogger(__name__)

_CLIENT_USAGES = (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)


def _check_client_usage(policy, certificate, extension: Optional[x509.ExtendedKeyUsage]) -> None:
    """Reject a leaf whose extendedKeyUsage lists neither clientAuth nor anyExtendedKeyUsage."""
    if extension is not None and not any(usage in extension for usage in _CLIENT_USAGES):
        raise ValueError("extendedKeyUsage does not allow client authentication (clientAuth)")


_CA_EXTENSION_POLICY = verification.ExtensionPolicy.permit_all().require_present(
    x509.BasicConstraints, verification.Criticality.AGNOSTIC, None
)
_LEAF_EXTENSION_POLICY = verification.ExtensionPolicy.permit_all().may_be_present(
    x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, _check_client_usage
)


@dataclass(frozen=True)
class TrustAnchors:
    """The parsed CA certificates of one trust store version; ``store`` is None when empty."""

    version: int
    count: int
    store: Optional[verification.Store]


@dataclass
class PeerCertificates:
    """The certificate chain that one TLS client presented, leaf first, empty for none.

    ``address`` is the client's own address, for logs. ``verified`` caches the last successful
    check of this connection as (trust store version, end of the validity of the verified
    chain), so later calls on the connection skip the path validation until the store changes
    or the chain expires.
    """

    chain: Tuple[x509.Certificate, ...]
    address: str = ""
    verified: Optional[Tuple[int, datetime.datetime]] = field(default=None, compare=False)


def describe(certificate: x509.Certificate) -> str:
    """Return the subject of ``certificate`` in RFC 4514 form, for error details and logs."""
    return certificate.subject.rfc4514_string() or "(empty subject)"


class ClientCertificatePolicy:
    """Check client certificate chains against the current trust store of the certificate manager.

    ``certificate_store`` needs ``change_version()`` and ``trusted_ca_certificates()``, as
    ``certmgr.store.CertificateStore`` has them. Every store access holds a lock, because gRPC
    worker threads call ``check`` at the same time.
    """

    def __init__(self, certificate_store):
        self._certificate_store = certificate_store
        self._lock = threading.Lock()
        self._anchors = TrustAnchors(version=-1, count=0, store=None)

    def current_anchors(self) -> TrustAnchors:
        """Return the trust anchors of the store's current version, reloading them on a change."""
        with self._lock:
            version = self._certificate_store.change_version()
            if version == self._anchors.version:
                return self._anchors
            snapshot = self._certificate_store.trusted_ca_certificates()
            self._anchors = _parse_anchors(snapshot.version, snapshot.certificates)
            return self._anchors

    def check(self, peer: Optional[PeerCertificates]) -> Optional[str]:
        """Return None when the call may proceed, else the reason why it may not.

        ``peer`` is the chain of the TLS connection the call arrived on, or None for the
        plaintext port, where no certificate can be presented.
        """
        anchors = self.current_anchors()
        if anchors.store is None:
            return None
        if peer is None:
            return (
                "mutual TLS is on because the certificate manager holds a CA certificate: "
                "call the TLS port with a client certificate issued by that CA"
            )
        if not peer.chain:
            return (
                "no client certificate was presented; mutual TLS is on because the certificate "
                "manager holds a CA certificate"
            )
        now = datetime.datetime.now(datetime.timezone.utc)
        cached = peer.verified
        if cached is not None and cached[0] == anchors.version and now < cached[1]:
            return None
        reason, valid_until = verify_chain(peer.chain, anchors, now)
        if reason is None:
            peer.verified = (anchors.version, valid_until)
        return reason


def _parse_anchors(version: int, pems: Sequence[bytes]) -> TrustAnchors:
    certificates = []
    for pem in pems:
        try:
            certificates.extend(x509.load_pem_x509_certificates(pem))
        except ValueError as error:
            # The certificate manager checks every upload, so this means a damaged database row.
            logger.error("ignoring a stored CA certificate that does not parse: %s", error)
    store = verification.Store(certificates) if certificates else None
    logger.info("trust store version %d: %d CA certificates", version, len(certificates))
    return TrustAnchors(version=version, count=len(certificates), store=store)


def verify_chain(
    chain: Sequence[x509.Certificate], anchors: TrustAnchors, now: datetime.datetime
) -> Tuple[Optional[str], Optional[datetime.datetime]]:
    """Validate ``chain`` (leaf first) against ``anchors`` at ``now``.

    Returns (None, end of validity of the verified path) on success and (reason, None) on
    failure. The leaf's validity period and usage are checked first, so the common failures
    get a plain reason instead of the path builder's message.
    """
    leaf = chain[0]
    subject = describe(leaf)
    if leaf.version != x509.Version.v3:
        return f"client certificate {subject} is not an X.509 v3 certificate", None
    if now < leaf.not_valid_before_utc:
        return f"client certificate {subject} is not valid before {leaf.not_valid_before_utc}", None
    if now > leaf.not_valid_after_utc:
        return f"client certificate {subject} expired at {leaf.not_valid_after_utc}", None
    try:
        usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not any(oid in usage for oid in _CLIENT_USAGES):
        return (
            f"client certificate {subject} does not allow client authentication: its "
            "extendedKeyUsage lacks clientAuth"
        ), None

    verifier = (
        verification.PolicyBuilder()
        .store(anchors.store)
        .time(now)
        .extension_policies(ca_policy=_CA_EXTENSION_POLICY, ee_policy=_LEAF_EXTENSION_POLICY)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(leaf, list(chain[1:]))
    except verification.VerificationError as error:
        return (
            f"client certificate {subject} does not chain to a CA certificate of the certificate "
            f"manager: {error}"
        ), None
    return None, min(certificate.not_valid_after_utc for certificate in verified.chain)
