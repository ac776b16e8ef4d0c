"""The IBM vendor mechanisms of the digital-asset, Schnorr, post-quantum and attribute-bound
families, in the order GetMechanismList returns them."""

from . import attrbound, btc, schnorr

ROWS = [
    *btc.ROWS,
    *schnorr.ROWS,
    *attrbound.ROWS,
]
