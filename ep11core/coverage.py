"""Generate the coverage table (docs/MECHANISMS.md) from the mechanism table.

Run from the repository root after changing the mechanism table:

    python -m ep11core.coverage --output docs/MECHANISMS.md

The page lists every mechanism of ``ep11core.mechanisms.MECHANISM_ROWS`` with the functions it
serves, then the gaps: each mechanism and function of the HPCS GREP11 documentation that the
table does not serve, with the reason from ``GAP_REASONS``. tests/test_coverage.py fails while
the committed page differs from the output of this module.
"""

import argparse
import sys
from typing import Dict, List, Tuple

from .constants import CKM, ckm_name
from .mechanisms import MECHANISM_ROWS, MECHANISMS, Function

REGENERATE_COMMAND = "python -m ep11core.coverage --output docs/MECHANISMS.md"

# Column name and the functions that mark it.
COLUMNS: Tuple[Tuple[str, Function], ...] = (
    ("Encrypt", Function.ENCRYPT),
    ("Decrypt", Function.DECRYPT),
    ("Sign", Function.SIGN),
    ("Verify", Function.VERIFY),
    ("Digest", Function.DIGEST),
    ("Wrap", Function.WRAP),
    ("Unwrap", Function.UNWRAP),
    ("Derive", Function.DERIVE),
    ("KeyGen", Function.GENERATE | Function.GENERATE_KEY_PAIR),
)

# The mechanisms of the HPCS GREP11 documentation per function group, with CKM_IBM_ED448_SHA3
# from its PKCS #11 pages and the ones its samples use (CKM_IBM_ATTRIBUTEBOUND_WRAP,
# CKM_IBM_TRANSPORTKEY, CKM_IBM_KYBER, CKM_IBM_EC_AGGREGATE).
_HPCS_GROUPS: Tuple[Tuple[Tuple[str, ...], str], ...] = (
    (
        ("Encrypt", "Decrypt", "Wrap", "Unwrap"),
        "RSA_PKCS RSA_PKCS_OAEP AES_ECB AES_CBC AES_CBC_PAD DES3_ECB DES3_CBC DES3_CBC_PAD",
    ),
    (("Wrap", "Unwrap"), "IBM_ATTRIBUTEBOUND_WRAP"),
    (("Unwrap",), "IBM_TRANSPORTKEY"),
    (
        ("Sign", "Verify"),
        "RSA_PKCS RSA_PKCS_PSS RSA_X9_31 SHA1_RSA_PKCS SHA224_RSA_PKCS SHA256_RSA_PKCS "
        "SHA384_RSA_PKCS SHA512_RSA_PKCS SHA1_RSA_PKCS_PSS SHA224_RSA_PKCS_PSS "
        "SHA256_RSA_PKCS_PSS SHA384_RSA_PKCS_PSS SHA512_RSA_PKCS_PSS SHA1_RSA_X9_31 DSA DSA_SHA1 "
        "ECDSA ECDSA_SHA1 ECDSA_SHA224 ECDSA_SHA256 ECDSA_SHA384 ECDSA_SHA512 SHA_1_HMAC "
        "SHA256_HMAC SHA384_HMAC SHA512_HMAC SHA512_224_HMAC SHA512_256_HMAC IBM_ED25519_SHA512 "
        "IBM_ED448_SHA3 IBM_ECDSA_OTHER IBM_DILITHIUM",
    ),
    (("Digest",), "SHA_1 SHA224 SHA256 SHA384 SHA512 SHA512_224 SHA512_256"),
    (
        ("KeyGen",),
        "RSA_PKCS_KEY_PAIR_GEN RSA_X9_31_KEY_PAIR_GEN DSA_KEY_PAIR_GEN DSA_PARAMETER_GEN "
        "EC_KEY_PAIR_GEN DH_PKCS_KEY_PAIR_GEN DH_PKCS_PARAMETER_GEN GENERIC_SECRET_KEY_GEN "
        "AES_KEY_GEN DES2_KEY_GEN DES3_KEY_GEN IBM_DILITHIUM",
    ),
    (
        ("Derive",),
        "ECDH1_DERIVE DH_PKCS_DERIVE DES3_ECB_ENCRYPT_DATA SHA1_KEY_DERIVATION "
        "SHA224_KEY_DERIVATION SHA256_KEY_DERIVATION SHA384_KEY_DERIVATION "
        "SHA512_KEY_DERIVATION IBM_BTC_DERIVE IBM_KYBER IBM_EC_AGGREGATE",
    ),
)

# Reasons for the gaps, by CKM name without the prefix. Gaps without an entry
# read DEFAULT_GAP_REASON. Entries of mechanisms that the table now serves are ignored.
DEFAULT_GAP_REASON = "not built yet"
NO_GAPS = "None: the table serves every mechanism and function of the HPCS documentation."
GAP_REASONS: Dict[str, str] = {
}


def _documented() -> Dict[int, List[str]]:
    """Return the documented mechanisms (CKM value) and their documented columns."""
    documented: Dict[int, List[str]] = {}
    for columns, names in _HPCS_GROUPS:
        for name in names.split():
            entry = documented.setdefault(int(CKM[name]), [])
            entry.extend(column for column in columns if column not in entry)
    return documented


def _served_columns(functions: Function) -> List[str]:
    return [name for name, function in COLUMNS if functions & function]


def _mechanism_rows(documented: Dict[int, List[str]]) -> List[str]:
    header = "| Mechanism | Value | " + " | ".join(name for name, _ in COLUMNS) + " | Notes |"
    rule = "|---|---|" + "---|" * len(COLUMNS) + "---|"
    lines = [header, rule]
    for spec in sorted(MECHANISM_ROWS, key=lambda row: ckm_name(row.mechanism)):
        marks = ["✓" if spec.functions & function else "" for _, function in COLUMNS]
        notes = []
        if spec.single_part:
            notes.append("single-part only")
        if spec.mechanism not in documented:
            notes.append("not in the HPCS table")
        lines.append(
            f"| {ckm_name(spec.mechanism)} | {spec.mechanism:#x} | "
            + " | ".join(marks)
            + f" | {'; '.join(notes)} |"
        )
    return lines


def _gap_rows(documented: Dict[int, List[str]]) -> List[str]:
    lines = ["| Mechanism | Missing | Reason |", "|---|---|---|"]
    for mechanism in sorted(documented, key=ckm_name):
        spec = MECHANISMS.get(mechanism)
        served = _served_columns(spec.functions) if spec is not None else []
        missing = [column for column in documented[mechanism] if column not in served]
        if not missing:
            continue
        what = "all" if spec is None else ", ".join(missing)
        name = ckm_name(mechanism)
        reason = GAP_REASONS.get(name[len("CKM_") :], DEFAULT_GAP_REASON)
        lines.append(f"| {name} | {what} | {reason} |")
    if len(lines) == 2:
        return [NO_GAPS]
    return lines


def render() -> str:
    """Return the text of docs/MECHANISMS.md."""
    documented = _documented()
    parts = [
        "# Mechanism coverage",
        "",
        f"Generated by `{REGENERATE_COMMAND}` from the mechanism table "
        "(`ep11core.mechanisms`); do not edit by hand.",
        "",
        "The table lists every mechanism of the table and the functions it serves, whatever "
        "the policy. A policy that turns a control point off removes the mechanisms it gates "
        "from GetMechanismList (`ep11core.policy`). KeyGen covers GenerateKey and "
        "GenerateKeyPair.",
        "",
        *_mechanism_rows(documented),
        "",
        "## Gaps",
        "",
        "Mechanisms and functions of the HPCS GREP11 documentation that the table does not "
        "serve. \"all\" means the mechanism is not in the table.",
        "",
        *_gap_rows(documented),
        "",
    ]
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ep11core.coverage",
        description="Print the mechanism coverage table, or write it to --output.",
    )
    parser.add_argument("--output", metavar="PATH", help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    text = render()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
