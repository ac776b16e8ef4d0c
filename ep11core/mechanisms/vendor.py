"""The IBM vendor mechanisms of the digital-asset, Schnorr, post-quantum and attribute-bound
families, in the order GetMechanismList returns them."""

from . import attrbound, btc, pqc, schnorr

ROWS = [
    *btc.ROWS,
    *schnorr.ROWS,
    *pqc.ROWS,
    *attrbound.ROWS,
]
