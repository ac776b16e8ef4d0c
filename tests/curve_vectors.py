"""Known-answer vectors of the Edwards and Montgomery curves, shared by several test modules.

EdDSA: RFC 8032 section 7.1 (Ed25519 tests 1 to 3) and section 7.4 (Ed448, "Blank" and
"1 octet"). X25519 and X448: the Diffie-Hellman examples of RFC 7748 sections 6.1 and 6.2.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class EdDSAVector:
    curve: str  # OpenSSL name: "ED25519" or "ED448"
    private_key: bytes
    public_key: bytes
    message: bytes
    signature: bytes


@dataclass(frozen=True)
class XDHVector:
    curve: str  # OpenSSL name: "X25519" or "X448"
    alice_private: bytes
    alice_public: bytes
    bob_private: bytes
    bob_public: bytes
    shared_secret: bytes


EDDSA_VECTORS = [
    EdDSAVector(
        "ED25519",
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
        bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
        b"",
        bytes.fromhex(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
            "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ),
    ),
    EdDSAVector(
        "ED25519",
        bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"),
        bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"),
        bytes.fromhex("72"),
        bytes.fromhex(
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
            "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ),
    ),
    EdDSAVector(
        "ED25519",
        bytes.fromhex("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7"),
        bytes.fromhex("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"),
        bytes.fromhex("af82"),
        bytes.fromhex(
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
            "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
        ),
    ),
    EdDSAVector(
        "ED448",
        bytes.fromhex(
            "6c82a562cb808d10d632be89c8513ebf6c929f34ddfa8c9f63c9960ef6e348a3528c8a3fcc2f044e"
            "39a3fc5b94492f8f032e7549a20098f95b"
        ),
        bytes.fromhex(
            "5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c706"
            "1bd6783df1e50f6cd1fa1abeafe8256180"
        ),
        b"",
        bytes.fromhex(
            "533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f2b233f034f628281"
            "f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a9df63e006c5d1c2d345b925d8dc00b41"
            "04852db99ac5c7cdda8530a113a0f4dbb61149f05a7363268c71d95808ff2e652600"
        ),
    ),
    EdDSAVector(
        "ED448",
        bytes.fromhex(
            "c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463afbea67c5e8d2877c"
            "5e3bc397a659949ef8021e954e0a12274e"
        ),
        bytes.fromhex(
            "43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c0866aea01eb00742802"
            "b8438ea4cb82169c235160627b4c3a9480"
        ),
        bytes.fromhex("03"),
        bytes.fromhex(
            "26b8f91727bd62897af15e41eb43c377efb9c610d48f2335cb0bd0087810f4352541b143c4b981b7"
            "e18f62de8ccdf633fc1bf037ab7cd779805e0dbcc0aae1cbcee1afb2e027df36bc04dcecbf154336"
            "c19f0af7e0a6472905e799f1953d2a0ff3348ab21aa4adafd1d234441cf807c03a00"
        ),
    ),
]

XDH_VECTORS = [
    XDHVector(
        "X25519",
        bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
        bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
        bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
        bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
        bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"),
    ),
    XDHVector(
        "X448",
        bytes.fromhex(
            "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391"
            "006382a6f127ab1d9ac2d8c0a598726b"
        ),
        bytes.fromhex(
            "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d4"
            "0c5b12da88120d53177f80e532c41fa0"
        ),
        bytes.fromhex(
            "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120bb5ee8972b0d3e21"
            "374c9c921b09d1b0366f10b65173992d"
        ),
        bytes.fromhex(
            "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972fc3e34fb4232a13c"
            "a706dcb57aec3dae07bdc1c67bf33609"
        ),
        bytes.fromhex(
            "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936"
            "521c24403085d59a449a5037514a879d"
        ),
    ),
]

# The AlgorithmIdentifier of EP11's SubjectPublicKeyInfo for these curves, as DER:
# id-ecPublicKey with the RFC 8410 curve OID as parameter.
EP11_ALGORITHM_IDENTIFIERS = {
    "ED25519": bytes.fromhex("300e06072a8648ce3d020106032b6570"),
    "ED448": bytes.fromhex("300e06072a8648ce3d020106032b6571"),
    "X25519": bytes.fromhex("300e06072a8648ce3d020106032b656e"),
    "X448": bytes.fromhex("300e06072a8648ce3d020106032b656f"),
}
