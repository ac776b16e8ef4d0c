"""The IBM vendor mechanisms of the digital-asset, Schnorr, BLS, post-quantum and
attribute-bound families, in the order GetMechanismList returns them."""

from . import attrbound, bls, btc, pqc, schnorr

ROWS = [
    *btc.ROWS,
    *schnorr.ROWS,
    *bls.ROWS,
    *pqc.ROWS,
    *attrbound.ROWS,
]
