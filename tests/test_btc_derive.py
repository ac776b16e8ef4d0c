"""CKM_IBM_BTC_DERIVE: BIP32 and SLIP-10 through every backend.

Known answers: the test vectors 1 to 3 of BIP32 (given there as Base58Check extended keys) and the
SLIP-10 vectors for secp256k1, NIST P-256 (including its two retry cases) and Ed25519. The seeds
enter the HSM through the ``import_secret`` fixture; derived private keys are checked through
their public point, through signatures that ``cryptography`` verifies, and, for the leaf of each
chain, by wrapping them out under a known AES key and comparing the PKCS #8 private key.
"""

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ep11core.constants import CKA, CKK, CKM, CKO, CKR
from ep11core.keys import encode_oid
from ep11core.types import BTCDeriveParams, Mechanism
from conftest import der_element, load_public_blob, raises_ckr
from curve_vectors import EP11_ALGORITHM_IDENTIFIERS

HARDENED = 0x80000000
SECP256K1 = encode_oid("1.3.132.0.10")
P256 = encode_oid("1.2.840.10045.3.1.7")
ED25519 = encode_oid("1.3.101.112")
CURVES = {"secp256k1": (SECP256K1, ec.SECP256K1()), "nist256p1": (P256, ec.SECP256R1())}

BIP32_PRV2PRV, BIP32_PRV2PUB, BIP32_PUB2PUB, BIP32_MASTERK = 1, 2, 3, 4
SLIP10_PRV2PRV, SLIP10_PRV2PUB, SLIP10_PUB2PUB, SLIP10_MASTERK = 5, 6, 7, 8
STANDARDS = {
    "bip32": (BIP32_MASTERK, BIP32_PRV2PRV, BIP32_PRV2PUB, BIP32_PUB2PUB),
    "slip10": (SLIP10_MASTERK, SLIP10_PRV2PRV, SLIP10_PRV2PUB, SLIP10_PUB2PUB),
}

# --- BIP32 test vectors 1 to 3 (path, extended public key, extended private key)

BIP32_VECTORS = {
    "vector 1": (
        "000102030405060708090a0b0c0d0e0f",
        [
            ([], "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8", "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"),
            ([HARDENED | 0], "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw", "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7"),
            ([HARDENED | 0, 1], "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ", "xprv9wTYmMFdV23N2TdNG573QoEsfRrWKQgWeibmLntzniatZvR9BmLnvSxqu53Kw1UmYPxLgboyZQaXwTCg8MSY3H2EU4pWcQDnRnrVA1xe8fs"),
            ([HARDENED | 0, 1, HARDENED | 2], "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5", "xprv9z4pot5VBttmtdRTWfWQmoH1taj2axGVzFqSb8C9xaxKymcFzXBDptWmT7FwuEzG3ryjH4ktypQSAewRiNMjANTtpgP4mLTj34bhnZX7UiM"),
            ([HARDENED | 0, 1, HARDENED | 2, 2], "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV", "xprvA2JDeKCSNNZky6uBCviVfJSKyQ1mDYahRjijr5idH2WwLsEd4Hsb2Tyh8RfQMuPh7f7RtyzTtdrbdqqsunu5Mm3wDvUAKRHSC34sJ7in334"),
            ([HARDENED | 0, 1, HARDENED | 2, 2, 1000000000], "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy", "xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76"),
        ],
    ),
    "vector 2": (
        "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542",
        [
            ([], "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB", "xprv9s21ZrQH143K31xYSDQpPDxsXRTUcvj2iNHm5NUtrGiGG5e2DtALGdso3pGz6ssrdK4PFmM8NSpSBHNqPqm55Qn3LqFtT2emdEXVYsCzC2U"),
            ([0], "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH", "xprv9vHkqa6EV4sPZHYqZznhT2NPtPCjKuDKGY38FBWLvgaDx45zo9WQRUT3dKYnjwih2yJD9mkrocEZXo1ex8G81dwSM1fwqWpWkeS3v86pgKt"),
            ([0, HARDENED | 2147483647], "xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a", "xprv9wSp6B7kry3Vj9m1zSnLvN3xH8RdsPP1Mh7fAaR7aRLcQMKTR2vidYEeEg2mUCTAwCd6vnxVrcjfy2kRgVsFawNzmjuHc2YmYRmagcEPdU9"),
            ([0, HARDENED | 2147483647, 1], "xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon", "xprv9zFnWC6h2cLgpmSA46vutJzBcfJ8yaJGg8cX1e5StJh45BBciYTRXSd25UEPVuesF9yog62tGAQtHjXajPPdbRCHuWS6T8XA2ECKADdw4Ef"),
            ([0, HARDENED | 2147483647, 1, HARDENED | 2147483646], "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL", "xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc"),
            ([0, HARDENED | 2147483647, 1, HARDENED | 2147483646, 2], "xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt", "xprvA2nrNbFZABcdryreWet9Ea4LvTJcGsqrMzxHx98MMrotbir7yrKCEXw7nadnHM8Dq38EGfSh6dqA9QWTyefMLEcBYJUuekgW4BYPJcr9E7j"),
        ],
    ),
    # Vector 3 checks that leading zero bytes of keys are kept.
    "vector 3": (
        "4b381541583be4423346c643850da4b320e46a87ae3d2a4e6da11eba819cd4acba45d239319ac14f863b8d5ab5a0d0c64d2e8a1e7d1457df2e5a3c51c73235be",
        [
            ([], "xpub661MyMwAqRbcEZVB4dScxMAdx6d4nFc9nvyvH3v4gJL378CSRZiYmhRoP7mBy6gSPSCYk6SzXPTf3ND1cZAceL7SfJ1Z3GC8vBgp2epUt13", "xprv9s21ZrQH143K25QhxbucbDDuQ4naNntJRi4KUfWT7xo4EKsHt2QJDu7KXp1A3u7Bi1j8ph3EGsZ9Xvz9dGuVrtHHs7pXeTzjuxBrCmmhgC6"),
            ([HARDENED | 0], "xpub68NZiKmJWnxxS6aaHmn81bvJeTESw724CRDs6HbuccFQN9Ku14VQrADWgqbhhTHBaohPX4CjNLf9fq9MYo6oDaPPLPxSb7gwQN3ih19Zm4Y", "xprv9uPDJpEQgRQfDcW7BkF7eTya6RPxXeJCqCJGHuCJ4GiRVLzkTXBAJMu2qaMWPrS7AANYqdq6vcBcBUdJCVVFceUvJFjaPdGZ2y9WACViL4L"),
        ],
    ),
}

# --- SLIP-10 test vectors (path, chain code, private key, compressed public key)

SLIP10_SEED_1 = "000102030405060708090a0b0c0d0e0f"
SLIP10_SEED_2 = (
    "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a878481"
    "7e7b7875726f6c696663605d5a5754514e4b484542"
)
SLIP10_VECTORS = {
    "nist256p1 vector 1": ("nist256p1", SLIP10_SEED_1, [
        ([], "beeb672fe4621673f722f38529c07392fecaa61015c80c34f29ce8b41b3cb6ea", "612091aaa12e22dd2abef664f8a01a82cae99ad7441b7ef8110424915c268bc2", "0266874dc6ade47b3ecd096745ca09bcd29638dd52c2c12117b11ed3e458cfa9e8"),
        ([HARDENED | 0], "3460cea53e6a6bb5fb391eeef3237ffd8724bf0a40e94943c98b83825342ee11", "6939694369114c67917a182c59ddb8cafc3004e63ca5d3b84403ba8613debc0c", "0384610f5ecffe8fda089363a41f56a5c7ffc1d81b59a612d0d649b2d22355590c"),
        ([HARDENED | 0, 1], "4187afff1aafa8445010097fb99d23aee9f599450c7bd140b6826ac22ba21d0c", "284e9d38d07d21e4e281b645089a94f4cf5a5a81369acf151a1c3a57f18b2129", "03526c63f8d0b4bbbf9c80df553fe66742df4676b241dabefdef67733e070f6844"),
        ([HARDENED | 0, 1, HARDENED | 2], "98c7514f562e64e74170cc3cf304ee1ce54d6b6da4f880f313e8204c2a185318", "694596e8a54f252c960eb771a3c41e7e32496d03b954aeb90f61635b8e092aa7", "0359cf160040778a4b14c5f4d7b76e327ccc8c4a6086dd9451b7482b5a4972dda0"),
        ([HARDENED | 0, 1, HARDENED | 2, 2], "ba96f776a5c3907d7fd48bde5620ee374d4acfd540378476019eab70790c63a0", "5996c37fd3dd2679039b23ed6f70b506c6b56b3cb5e424681fb0fa64caf82aaa", "029f871f4cb9e1c97f9f4de9ccd0d4a2f2a171110c61178f84430062230833ff20"),
        ([HARDENED | 0, 1, HARDENED | 2, 2, 1000000000], "b9b7b82d326bb9cb5b5b121066feea4eb93d5241103c9e7a18aad40f1dde8059", "21c4f269ef0a5fd1badf47eeacebeeaa3de22eb8e5b0adcd0f27dd99d34d0119", "02216cd26d31147f72427a453c443ed2cde8a1e53c9cc44e5ddf739725413fe3f4"),
    ]),
    "nist256p1 vector 2": ("nist256p1", SLIP10_SEED_2, [
        ([], "96cd4465a9644e31528eda3592aa35eb39a9527769ce1855beafc1b81055e75d", "eaa31c2e46ca2962227cf21d73a7ef0ce8b31c756897521eb6c7b39796633357", "02c9e16154474b3ed5b38218bb0463e008f89ee03e62d22fdcc8014beab25b48fa"),
        ([0], "84e9c258bb8557a40e0d041115b376dd55eda99c0042ce29e81ebe4efed9b86a", "d7d065f63a62624888500cdb4f88b6d59c2927fee9e6d0cdff9cad555884df6e", "039b6df4bece7b6c81e2adfeea4bcf5c8c8a6e40ea7ffa3cf6e8494c61a1fc82cc"),
        ([0, HARDENED | 2147483647], "f235b2bc5c04606ca9c30027a84f353acf4e4683edbd11f635d0dcc1cd106ea6", "96d2ec9316746a75e7793684ed01e3d51194d81a42a3276858a5b7376d4b94b9", "02f89c5deb1cae4fedc9905f98ae6cbf6cbab120d8cb85d5bd9a91a72f4c068c76"),
        ([0, HARDENED | 2147483647, 1], "7c0b833106235e452eba79d2bdd58d4086e663bc8cc55e9773d2b5eeda313f3b", "974f9096ea6873a915910e82b29d7c338542ccde39d2064d1cc228f371542bbc", "03abe0ad54c97c1d654c1852dfdc32d6d3e487e75fa16f0fd6304b9ceae4220c64"),
        ([0, HARDENED | 2147483647, 1, HARDENED | 2147483646], "5794e616eadaf33413aa309318a26ee0fd5163b70466de7a4512fd4b1a5c9e6a", "da29649bbfaff095cd43819eda9a7be74236539a29094cd8336b07ed8d4eff63", "03cb8cb067d248691808cd6b5a5a06b48e34ebac4d965cba33e6dc46fe13d9b933"),
        ([0, HARDENED | 2147483647, 1, HARDENED | 2147483646, 2], "3bfb29ee8ac4484f09db09c2079b520ea5616df7820f071a20320366fbe226a7", "bb0a77ba01cc31d77205d51d08bd313b979a71ef4de9b062f8958297e746bd67", "020ee02e18967237cf62672983b253ee62fa4dd431f8243bfeccdf39dbe181387f"),
    ]),
    # The child of m/28578' at index 33941 has an invalid first candidate, so SLIP-10 rehashes.
    "nist256p1 derivation retry": ("nist256p1", SLIP10_SEED_1, [
        ([], "beeb672fe4621673f722f38529c07392fecaa61015c80c34f29ce8b41b3cb6ea", "612091aaa12e22dd2abef664f8a01a82cae99ad7441b7ef8110424915c268bc2", "0266874dc6ade47b3ecd096745ca09bcd29638dd52c2c12117b11ed3e458cfa9e8"),
        ([HARDENED | 28578], "e94c8ebe30c2250a14713212f6449b20f3329105ea15b652ca5bdfc68f6c65c2", "06f0db126f023755d0b8d86d4591718a5210dd8d024e3e14b6159d63f53aa669", "02519b5554a4872e8c9c1c847115363051ec43e93400e030ba3c36b52a3e70a5b7"),
        ([HARDENED | 28578, 33941], "9e87fe95031f14736774cd82f25fd885065cb7c358c1edf813c72af535e83071", "092154eed4af83e078ff9b84322015aefe5769e31270f62c3f66c33888335f3a", "0235bfee614c0d5b2cae260000bb1d0d84b270099ad790022c1ae0b2e782efe120"),
    ]),
    # The first master candidate of this seed is invalid, so SLIP-10 rehashes the seed.
    "nist256p1 seed retry": ("nist256p1", "a7305bc8df8d0951f0cb224c0e95d7707cbdf2c6ce7e8d481fec69c7ff5e9446", [
        ([], "7762f9729fed06121fd13f326884c82f59aa95c57ac492ce8c9654e60efd130c", "3b8c18469a4634517d6d0b65448f8e6c62091b45540a1743c5846be55d47d88f", "0383619fadcde31063d8c5cb00dbfe1713f3e6fa169d8541a798752a1c1ca0cb20"),
    ]),
    "secp256k1 vector 1": ("secp256k1", SLIP10_SEED_1, [
        ([], "873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508", "e8f32e723decf4051aefac8e2c93c9c5b214313817cdb01a1494b917c8436b35", "0339a36013301597daef41fbe593a02cc513d0b55527ec2df1050e2e8ff49c85c2"),
        ([HARDENED | 0], "47fdacbd0f1097043b78c63c20c34ef4ed9a111d980047ad16282c7ae6236141", "edb2e14f9ee77d26dd93b4ecede8d16ed408ce149b6cd80b0715a2d911a0afea", "035a784662a4a20a65bf6aab9ae98a6c068a81c52e4b032c0fb5400c706cfccc56"),
        ([HARDENED | 0, 1], "2a7857631386ba23dacac34180dd1983734e444fdbf774041578e9b6adb37c19", "3c6cb8d0f6a264c91ea8b5030fadaa8e538b020f0a387421a12de9319dc93368", "03501e454bf00751f24b1b489aa925215d66af2234e3891c3b21a52bedb3cd711c"),
    ]),
}

# SLIP-10 test vectors 1 and 2 for ed25519 (path, chain code, private key, public key), from
# SLIP-0010 "Universal private key derivation from master private key". The public key there
# carries a 0x00 prefix byte before the 32-byte RFC 8032 key.
SLIP10_ED25519_VECTORS = {
    "ed25519 vector 1": (SLIP10_SEED_1, [
        ([], "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb", "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7", "00a4b2856bfec510abab89753fac1ac0e1112364e7d250545963f135f2a33188ed"),
        ([HARDENED | 0], "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69", "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3", "008c8a13df77a28f3445213a0f432fde644acaa215fc72dcdf300d5efaa85d350c"),
        ([HARDENED | 0, HARDENED | 1], "a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14", "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2", "001932a5270f335bed617d5b935c80aedb1a35bd9fc1e31acafd5372c30f5c1187"),
        ([HARDENED | 0, HARDENED | 1, HARDENED | 2], "2e69929e00b5ab250f49c3fb1c12f252de4fed2c1db88387094a0f8c4c9ccd6c", "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9", "00ae98736566d30ed0e9d2f4486a64bc95740d89c7db33f52121f8ea8f76ff0fc1"),
        ([HARDENED | 0, HARDENED | 1, HARDENED | 2, HARDENED | 2], "8f6d87f93d750e0efccda017d662a1b31a266e4a6f5993b15f5c1f07f74dd5cc", "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662", "008abae2d66361c879b900d204ad2cc4984fa2aa344dd7ddc46007329ac76c429c"),
        ([HARDENED | 0, HARDENED | 1, HARDENED | 2, HARDENED | 2, HARDENED | 1000000000], "68789923a0cac2cd5a29172a475fe9e0fb14cd6adb5ad98a3fa70333e7afa230", "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793", "003c24da049451555d51a7014a37337aa4e12d41e485abccfa46b47dfb2af54b7a"),
    ]),
    "ed25519 vector 2": (SLIP10_SEED_2, [
        ([], "ef70a74db9c3a5af931b5fe73ed8e1a53464133654fd55e7a66f8570b8e33c3b", "171cb88b1b3c1db25add599712e36245d75bc65a1a5c9e18d76f9f2b1eab4012", "008fe9693f8fa62a4305a140b9764c5ee01e455963744fe18204b4fb948249308a"),
        ([HARDENED | 0], "0b78a3226f915c082bf118f83618a618ab6dec793752624cbeb622acb562862d", "1559eb2bbec5790b0c65d8693e4d0875b1747f4970ae8b650486ed7470845635", "0086fab68dcb57aa196c77c5f264f215a112c22a912c10d123b0d03c3c28ef1037"),
        ([HARDENED | 0, HARDENED | 2147483647], "138f0b2551bcafeca6ff2aa88ba8ed0ed8de070841f0c4ef0165df8181eaad7f", "ea4f5bfe8694d8bb74b7b59404632fd5968b774ed545e810de9c32a4fb4192f4", "005ba3b9ac6e90e83effcd25ac4e58a1365a9e35a3d3ae5eb07b9e4d90bcf7506d"),
        ([HARDENED | 0, HARDENED | 2147483647, HARDENED | 1], "73bd9fff1cfbde33a1b846c27085f711c0fe2d66fd32e139d3ebc28e5a4a6b90", "3757c7577170179c7868353ada796c839135b3d30554bbb74a4b1e4a5a58505c", "002e66aa57069c86cc18249aecf5cb5a9cebbfd6fadeab056254763874a9352b45"),
        ([HARDENED | 0, HARDENED | 2147483647, HARDENED | 1, HARDENED | 2147483646], "0902fe8a29f9140480a00ef244bd183e8a13288e4412d8389d140aac1794825a", "5837736c89570de861ebc173b1086da4f505d4adb387c6a1b1342d5e4ac9ec72", "00e33c0f7d81d843c572275f287498e8d408654fdf0d1e065b84e2e6f157aab09b"),
        ([HARDENED | 0, HARDENED | 2147483647, HARDENED | 1, HARDENED | 2147483646, HARDENED | 2], "5d70af781f3a37b829f0d060924d5e960bdc02e85423494afc0b1a41bbe196d4", "551d333177df541ad876a60ea71f00447931c0a9da16f227c11ea080d7391b8d", "0047150c75db263559a70d5778bf36abbab30fb061ad69f69ece61a72b0cfa4fc0"),
    ]),
}

# --- helpers

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58check_decode(text: str) -> bytes:
    number = 0
    for character in text:
        number = number * 58 + BASE58_ALPHABET.index(character)
    leading_zeros = len(text) - len(text.lstrip("1"))
    raw = b"\0" * leading_zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")
    payload, checksum = raw[:-4], raw[-4:]
    assert hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == checksum
    return payload


def extended_key(text: str):
    """Return (chain code, key data) of a BIP32 extended key: key data is 33 bytes."""
    payload = base58check_decode(text)
    assert len(payload) == 78
    return payload[13:45], payload[45:78]


def compressed_point(uncompressed: bytes) -> bytes:
    assert uncompressed[0] == 4
    size = (len(uncompressed) - 1) // 2
    x, y = uncompressed[1 : 1 + size], uncompressed[1 + size :]
    return bytes((2 | (y[-1] & 1),)) + x


def der_octet_string_content(value: bytes) -> bytes:
    assert value[0] == 0x04
    assert value[1] < 0x80
    return value[2 : 2 + value[1]]


def public_point_of(ep11, blob: bytes) -> bytes:
    """Return the compressed EC point of a private key blob or a public key object."""
    point = ep11.get_attribute_value(blob, [CKA.EC_POINT])[CKA.EC_POINT]
    return compressed_point(der_octet_string_content(point))


def btc(derive_type, index=0, chain_code=b"", version=1) -> Mechanism:
    return Mechanism(CKM.IBM_BTC_DERIVE, BTCDeriveParams(derive_type, index, chain_code, version))


def derive_template(curve_params=SECP256K1, extra=None):
    """The derive template of the GREP11 BIP32 and SLIP-10 client flows, plus ``extra``."""
    template = {
        CKA.EXTRACTABLE: False,
        CKA.DERIVE: True,
        CKA.KEY_TYPE: CKK.EC,
        CKA.VALUE_LEN: 0,
        CKA.IBM_USE_AS_DATA: True,
        CKA.EC_PARAMS: curve_params,
    }
    template.update(extra or {})
    return template


def import_seed(ep11, import_secret, seed: bytes):
    extra = {CKA.IBM_USE_AS_DATA: True, CKA.DERIVE: True}
    return import_secret(ep11, CKK.GENERIC_SECRET, seed, extra)


def exported_scalar(ep11, import_secret, private_blob: bytes) -> int:
    """Wrap an extractable private key under a known AES key and return its PKCS #8 scalar."""
    kek_value = os.urandom(32)
    kek = import_secret(ep11, CKK.AES, kek_value)
    iv = os.urandom(16)
    wrapped = ep11.wrap_key(Mechanism(CKM.AES_CBC_PAD, iv), private_blob, kek.blob)
    decryptor = Cipher(algorithms.AES(kek_value), modes.CBC(iv)).decryptor()
    padded = decryptor.update(wrapped) + decryptor.finalize()
    pkcs8 = padded[: -padded[-1]]
    key = serialization.load_der_private_key(pkcs8, None)
    return key.private_numbers().private_value


def verify_with_cryptography(curve, compressed: bytes, message: bytes, signature: bytes):
    """Verify a raw r||s ECDSA-SHA256 signature with ``cryptography``; raise if invalid."""
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(curve, compressed)
    half = len(signature) // 2
    der = encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )
    public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))


def walk_chain(ep11, import_secret, standard, curve_name, seed_hex, chain, check_node):
    """Derive every node of ``chain`` from the seed with private and public steps.

    ``check_node(path, private_result, public_blob, chain_code)`` receives each node.
    """
    masterk, prv2prv, prv2pub, pub2pub = STANDARDS[standard]
    curve_params, _ = CURVES[curve_name]
    template = derive_template(curve_params, {CKA.EXTRACTABLE: True})
    seed = import_seed(ep11, import_secret, bytes.fromhex(seed_hex))
    master = ep11.derive_key(btc(masterk), seed.blob, b"", template)
    private, chain_code = master, master.checksum
    public_blob = ep11.get_attribute_value(master.blob, [CKA.IBM_MACED_PUBLIC_KEY_INFO])[
        CKA.IBM_MACED_PUBLIC_KEY_INFO
    ]
    check_node(chain[0][0], private, public_blob, chain_code)
    for path, *_ in chain[1:]:
        index = path[-1]
        child_public = ep11.derive_key(btc(prv2pub, index, chain_code), private.blob, b"", template)
        child_private = ep11.derive_key(btc(prv2prv, index, chain_code), private.blob, b"", template)
        assert child_public.checksum == child_private.checksum
        if index < HARDENED:
            from_public = ep11.derive_key(
                btc(pub2pub, index, chain_code), public_blob, b"", template
            )
            assert from_public.checksum == child_public.checksum
            assert public_point_of(ep11, from_public.blob) == public_point_of(
                ep11, child_public.blob
            )
        private, chain_code, public_blob = child_private, child_private.checksum, child_public.blob
        check_node(path, private, public_blob, chain_code)
    return private


# --- known answers


@pytest.mark.parametrize("name", sorted(BIP32_VECTORS))
def test_bip32_vector(ep11, import_secret, name):
    seed_hex, chain = BIP32_VECTORS[name]
    expected = {tuple(path): (xpub, xprv) for path, xpub, xprv in chain}
    message = b"BIP32 " + name.encode()

    def check_node(path, private, public_blob, chain_code):
        xpub, xprv = expected[tuple(path)]
        public_chain_code, public_key = extended_key(xpub)
        private_chain_code, private_key = extended_key(xprv)
        assert chain_code == public_chain_code == private_chain_code
        assert public_point_of(ep11, private.blob) == public_key
        assert public_point_of(ep11, public_blob) == public_key
        assert private_key[0] == 0
        signature = ep11.sign_single(
            Mechanism(CKM.ECDSA_SHA256), private.blob, message
        )
        verify_with_cryptography(ec.SECP256K1(), public_key, message, signature)

    leaf = walk_chain(ep11, import_secret, "bip32", "secp256k1", seed_hex, chain, check_node)
    _, leaf_key = extended_key(chain[-1][2])
    assert exported_scalar(ep11, import_secret, leaf.blob) == int.from_bytes(leaf_key[1:], "big")


@pytest.mark.parametrize("name", sorted(SLIP10_VECTORS))
def test_slip10_vector(ep11, import_secret, name):
    curve_name, seed_hex, chain = SLIP10_VECTORS[name]
    expected = {tuple(path): rest for path, *rest in chain}
    _, curve = CURVES[curve_name]
    message = b"SLIP-10 " + name.encode()

    def check_node(path, private, public_blob, chain_code):
        expected_chain_code, _, public_key = expected[tuple(path)]
        assert chain_code.hex() == expected_chain_code
        assert public_point_of(ep11, private.blob).hex() == public_key
        assert public_point_of(ep11, public_blob).hex() == public_key
        signature = ep11.sign_single(Mechanism(CKM.ECDSA_SHA256), private.blob, message)
        verify_with_cryptography(curve, bytes.fromhex(public_key), message, signature)

    leaf = walk_chain(ep11, import_secret, "slip10", curve_name, seed_hex, chain, check_node)
    assert exported_scalar(ep11, import_secret, leaf.blob) == int(chain[-1][2], 16)


def ed25519_public_key_of(ep11, blob: bytes) -> bytes:
    """Return the raw Ed25519 public key of a private key blob or a public key object."""
    point = ep11.get_attribute_value(blob, [CKA.EC_POINT])[CKA.EC_POINT]
    return der_octet_string_content(point)


def exported_ed25519_key(ep11, import_secret, private_blob: bytes) -> bytes:
    """Wrap an extractable Ed25519 private key under a known AES key and return its raw key."""
    kek_value = os.urandom(32)
    kek = import_secret(ep11, CKK.AES, kek_value)
    iv = os.urandom(16)
    wrapped = ep11.wrap_key(Mechanism(CKM.AES_CBC_PAD, iv), private_blob, kek.blob)
    decryptor = Cipher(algorithms.AES(kek_value), modes.CBC(iv)).decryptor()
    padded = decryptor.update(wrapped) + decryptor.finalize()
    key = serialization.load_der_private_key(padded[: -padded[-1]], None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


@pytest.mark.parametrize("name", sorted(SLIP10_ED25519_VECTORS))
def test_slip10_ed25519_vector(ep11, import_secret, name):
    seed_hex, chain = SLIP10_ED25519_VECTORS[name]
    template = derive_template(ED25519, {CKA.EXTRACTABLE: True})
    seed = import_seed(ep11, import_secret, bytes.fromhex(seed_hex))
    message = b"SLIP-10 " + name.encode()
    private = ep11.derive_key(btc(SLIP10_MASTERK), seed.blob, b"", template)
    assert private.attributes[CKA.EC_PARAMS] == ED25519
    chain_code = private.checksum
    for position, (path, expected_chain_code, _, expected_public) in enumerate(chain):
        if position > 0:
            index = path[-1]
            public = ep11.derive_key(
                btc(SLIP10_PRV2PUB, index, chain_code), private.blob, b"", template
            )
            private = ep11.derive_key(
                btc(SLIP10_PRV2PRV, index, chain_code), private.blob, b"", template
            )
            assert public.checksum == private.checksum
            assert public.attributes[CKA.CLASS] == CKO.PUBLIC_KEY
            assert ed25519_public_key_of(ep11, public.blob).hex() == expected_public[2:]
            chain_code = private.checksum
        assert chain_code.hex() == expected_chain_code
        assert ed25519_public_key_of(ep11, private.blob).hex() == expected_public[2:]
        signature = ep11.sign_single(Mechanism(CKM.IBM_ED25519_SHA512), private.blob, message)
        public_key = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(expected_public[2:]))
        public_key.verify(signature, message)
    assert exported_ed25519_key(ep11, import_secret, private.blob).hex() == chain[-1][2]


def test_slip10_ed25519_public_blob(ep11, import_secret):
    seed = import_seed(ep11, import_secret, bytes.fromhex(SLIP10_SEED_1))
    master = ep11.derive_key(btc(SLIP10_MASTERK), seed.blob, b"", derive_template(ED25519))
    public = ep11.derive_key(
        btc(SLIP10_PRV2PUB, HARDENED, master.checksum), master.blob, b"", derive_template(ED25519)
    )
    assert public.attributes[CKA.EC_PARAMS] == ED25519
    expected = bytes.fromhex(SLIP10_ED25519_VECTORS["ed25519 vector 1"][1][1][3][2:])
    # EP11's SPKI: SEQUENCE { AlgorithmIdentifier, BIT STRING (no unused bits) raw key }.
    algorithm = EP11_ALGORITHM_IDENTIFIERS["ED25519"]
    body = algorithm + bytes((0x03, 33, 0)) + expected
    assert der_element(public.blob) == bytes((0x30, len(body))) + body


def test_bip32_result_forms(ep11, import_secret):
    seed = import_seed(ep11, import_secret, bytes.fromhex(SLIP10_SEED_1))
    master = ep11.derive_key(btc(BIP32_MASTERK), seed.blob, b"", derive_template())
    assert len(master.checksum) == 32
    assert master.blob[:32] == bytes(32)
    assert master.attributes[CKA.CLASS] == CKO.PRIVATE_KEY
    assert master.attributes[CKA.KEY_TYPE] == CKK.EC
    assert master.attributes[CKA.EC_PARAMS] == SECP256K1
    assert CKA.VALUE_LEN not in master.attributes
    public = ep11.derive_key(
        btc(BIP32_PRV2PUB, 0, master.checksum), master.blob, b"", derive_template()
    )
    assert public.attributes[CKA.CLASS] == CKO.PUBLIC_KEY
    spki = load_public_blob(public.blob)
    assert isinstance(spki.curve, ec.SECP256K1)


def test_bip32_master_default_curve(ep11, import_secret):
    seed = import_seed(ep11, import_secret, bytes.fromhex(SLIP10_SEED_1))
    template = derive_template()
    del template[CKA.EC_PARAMS]
    master = ep11.derive_key(btc(BIP32_MASTERK), seed.blob, b"", template)
    assert master.checksum.hex() == SLIP10_VECTORS["secp256k1 vector 1"][2][0][1]


# --- the GREP11 client flows


def generated_seed(ep11):
    """The seed of the client flows: a 32-byte generic secret made in the HSM."""
    template = {
        CKA.KEY_TYPE: CKK.GENERIC_SECRET,
        CKA.CLASS: CKO.SECRET_KEY,
        CKA.VALUE_LEN: 32,
        CKA.WRAP: False,
        CKA.UNWRAP: False,
        CKA.SIGN: True,
        CKA.VERIFY: True,
        CKA.EXTRACTABLE: False,
        CKA.DERIVE: True,
        CKA.IBM_USE_AS_DATA: True,
    }
    return ep11.generate_key(Mechanism(CKM.GENERIC_SECRET_KEY_GEN), template)


def sign_and_verify(ep11, private_blob, public_blob, message):
    state = ep11.sign_init(Mechanism(CKM.ECDSA), private_blob)
    signature = ep11.sign(state, message)
    state = ep11.verify_init(Mechanism(CKM.ECDSA), public_blob)
    ep11.verify(state, message, signature)
    signature = ep11.sign_single(Mechanism(CKM.ECDSA), private_blob, message)
    ep11.verify_single(Mechanism(CKM.ECDSA), public_blob, message, signature)
    return signature


def test_bip32_base_flow(ep11):
    seed = generated_seed(ep11)
    master = ep11.derive_key(btc(BIP32_MASTERK), seed.blob, b"", derive_template())
    private, chain_code = master, master.checksum
    message = b"This data needs to be signed"
    for _ in range(3):
        child_private = ep11.derive_key(
            btc(BIP32_PRV2PRV, 0, chain_code), private.blob, b"", derive_template()
        )
        child_public = ep11.derive_key(
            btc(BIP32_PRV2PUB, 0, chain_code), private.blob, b"", derive_template()
        )
        sign_and_verify(ep11, child_private.blob, child_public.blob, message)
        private, chain_code = child_private, child_private.checksum


def test_bip32_key_derivation_flow(ep11):
    seed = generated_seed(ep11)
    master = ep11.derive_key(btc(BIP32_MASTERK), seed.blob, b"", derive_template())
    public = ep11.derive_key(
        btc(BIP32_PRV2PUB, 0, master.checksum), master.blob, b"", derive_template()
    )
    private = ep11.derive_key(
        btc(BIP32_PRV2PRV, 0, master.checksum), master.blob, b"", derive_template()
    )
    grandchild = ep11.derive_key(
        btc(BIP32_PUB2PUB, 0, public.checksum), public.blob, b"", derive_template()
    )
    assert len(grandchild.checksum) == 32
    private_grandchild = ep11.derive_key(
        btc(BIP32_PRV2PRV, 0, private.checksum), private.blob, b"", derive_template()
    )
    assert public_point_of(ep11, grandchild.blob) == public_point_of(ep11, private_grandchild.blob)


def test_bip32_cross_sign_verify_flow(ep11):
    seed = generated_seed(ep11)
    master = ep11.derive_key(btc(BIP32_MASTERK), seed.blob, b"", derive_template())
    private, chain_code = master, master.checksum
    levels = []
    message = b"This data needs to be signed"
    for _ in range(3):
        child_private = ep11.derive_key(
            btc(BIP32_PRV2PRV, 0, chain_code), private.blob, b"", derive_template()
        )
        child_public = ep11.derive_key(
            btc(BIP32_PRV2PUB, 0, chain_code), private.blob, b"", derive_template()
        )
        sign_and_verify(ep11, child_private.blob, child_public.blob, message)
        levels.append((child_private, child_public))
        private, chain_code = child_private, child_private.checksum
    for signer, verifier in ((2, 1), (1, 0), (0, 2)):
        signature = ep11.sign_single(Mechanism(CKM.ECDSA), levels[signer][0].blob, message)
        with raises_ckr(CKR.SIGNATURE_INVALID):
            ep11.verify_single(Mechanism(CKM.ECDSA), levels[verifier][1].blob, message, signature)


@pytest.mark.parametrize("curve_name", sorted(CURVES))
def test_slip10_derive_key_flow(ep11, curve_name):
    curve_params, _ = CURVES[curve_name]
    template = derive_template(curve_params, {CKA.VERIFY: True})
    seed = generated_seed(ep11)
    master = ep11.derive_key(btc(SLIP10_MASTERK), seed.blob, b"", template)
    message = b"SLIP-10 flow"
    for first in range(3):
        private = ep11.derive_key(
            btc(SLIP10_PRV2PRV, HARDENED + first, master.checksum), master.blob, b"", template
        )
        for second in range(3):
            index = HARDENED + second
            child_private = ep11.derive_key(
                btc(SLIP10_PRV2PRV, index, private.checksum), private.blob, b"", template
            )
            child_public = ep11.derive_key(
                btc(SLIP10_PRV2PUB, index, private.checksum), private.blob, b"", template
            )
            signature = ep11.sign_single(Mechanism(CKM.ECDSA), child_private.blob, message)
            ep11.verify_single(Mechanism(CKM.ECDSA), child_public.blob, message, signature)


@pytest.mark.parametrize("curve_name", sorted(CURVES))
def test_slip10_cross_sign_verify_flow(ep11, curve_name):
    curve_params, _ = CURVES[curve_name]
    template = derive_template(curve_params, {CKA.VERIFY: True})
    seed = generated_seed(ep11)
    master = ep11.derive_key(btc(SLIP10_MASTERK), seed.blob, b"", template)
    private = ep11.derive_key(
        btc(SLIP10_PRV2PRV, HARDENED, master.checksum), master.blob, b"", template
    )
    public = ep11.derive_key(
        btc(SLIP10_PRV2PUB, HARDENED, master.checksum), master.blob, b"", template
    )
    message = b"cross"
    signature = ep11.sign_single(Mechanism(CKM.ECDSA), private.blob, message)
    state = ep11.verify_init(Mechanism(CKM.ECDSA), public.blob)
    ep11.verify(state, message, signature)
    state = ep11.sign_init(Mechanism(CKM.ECDSA), private.blob)
    signature = ep11.sign(state, message)
    ep11.verify_single(Mechanism(CKM.ECDSA), public.blob, message, signature)


def test_slip10_ed25519_derive_key_flow(ep11):
    template = derive_template(ED25519, {CKA.VERIFY: True})
    seed = generated_seed(ep11)
    master = ep11.derive_key(btc(SLIP10_MASTERK), seed.blob, b"", template)
    private, chain_code = master, master.checksum
    message = b"SLIP-10 Ed25519 flow"
    mechanism = Mechanism(CKM.IBM_ED25519_SHA512)
    for level in range(3):
        index = HARDENED + level
        child_private = ep11.derive_key(
            btc(SLIP10_PRV2PRV, index, chain_code), private.blob, b"", template
        )
        child_public = ep11.derive_key(
            btc(SLIP10_PRV2PUB, index, chain_code), private.blob, b"", template
        )
        signature = ep11.sign_single(mechanism, child_private.blob, message)
        assert len(signature) == 64
        ep11.verify_single(mechanism, child_public.blob, message, signature)
        with raises_ckr(CKR.SIGNATURE_INVALID):
            ep11.verify_single(mechanism, child_public.blob, message + b"!", signature)
        private, chain_code = child_private, child_private.checksum


# --- rejected requests


@pytest.fixture(scope="module")
def vector_seed(ep11, import_secret):
    return import_seed(ep11, import_secret, bytes.fromhex(SLIP10_SEED_1))


def test_pub2pub_hardened_rejected(ep11, vector_seed):
    master = ep11.derive_key(btc(BIP32_MASTERK), vector_seed.blob, b"", derive_template())
    public = ep11.derive_key(
        btc(BIP32_PRV2PUB, 0, master.checksum), master.blob, b"", derive_template()
    )
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.derive_key(
            btc(BIP32_PUB2PUB, HARDENED, public.checksum), public.blob, b"", derive_template()
        )


@pytest.mark.parametrize(
    "mechanism",
    [
        Mechanism(CKM.IBM_BTC_DERIVE),
        btc(BIP32_MASTERK, version=2),
        btc(9),
        btc(0),
        btc(BIP32_PRV2PRV, 0, bytes(31)),
        btc(BIP32_PRV2PRV, 1 << 32, bytes(32)),
    ],
    ids=["no parameter", "version 2", "type 9", "type 0", "short chain code", "index 33 bits"],
)
def test_invalid_parameter_rejected(ep11, vector_seed, mechanism):
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.derive_key(mechanism, vector_seed.blob, b"", derive_template())


def test_bip32_on_p256_rejected(ep11, vector_seed):
    with raises_ckr(CKR.CURVE_NOT_SUPPORTED):
        ep11.derive_key(btc(BIP32_MASTERK), vector_seed.blob, b"", derive_template(P256))


def test_bip32_on_ed25519_rejected(ep11, vector_seed):
    with raises_ckr(CKR.CURVE_NOT_SUPPORTED):
        ep11.derive_key(btc(BIP32_MASTERK), vector_seed.blob, b"", derive_template(ED25519))


@pytest.fixture(scope="module")
def ed25519_master(ep11, vector_seed):
    return ep11.derive_key(btc(SLIP10_MASTERK), vector_seed.blob, b"", derive_template(ED25519))


@pytest.mark.parametrize("derive_type", [SLIP10_PRV2PRV, SLIP10_PRV2PUB], ids=["prv", "pub"])
def test_slip10_ed25519_non_hardened_rejected(ep11, ed25519_master, derive_type):
    mechanism = btc(derive_type, 0, ed25519_master.checksum)
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.derive_key(mechanism, ed25519_master.blob, b"", derive_template(ED25519))


def test_slip10_ed25519_pub2pub_rejected(ep11, ed25519_master):
    public = ep11.derive_key(
        btc(SLIP10_PRV2PUB, HARDENED, ed25519_master.checksum),
        ed25519_master.blob,
        b"",
        derive_template(ED25519),
    )
    for index in (0, HARDENED):
        mechanism = btc(SLIP10_PUB2PUB, index, public.checksum)
        with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
            ep11.derive_key(mechanism, public.blob, b"", derive_template(ED25519))


def test_slip10_ed25519_child_curve_mismatch(ep11, ed25519_master):
    mechanism = btc(SLIP10_PRV2PRV, HARDENED, ed25519_master.checksum)
    with raises_ckr(CKR.TEMPLATE_INCONSISTENT):
        ep11.derive_key(mechanism, ed25519_master.blob, b"", derive_template(P256))


def test_slip10_master_needs_curve(ep11, vector_seed):
    template = derive_template()
    del template[CKA.EC_PARAMS]
    with raises_ckr(CKR.CURVE_NOT_SUPPORTED):
        ep11.derive_key(btc(SLIP10_MASTERK), vector_seed.blob, b"", template)


def test_seed_without_use_as_data_rejected(ep11, import_secret):
    seed = import_secret(ep11, CKK.GENERIC_SECRET, bytes(32), {CKA.DERIVE: True})
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.derive_key(btc(BIP32_MASTERK), seed.blob, b"", derive_template())


def test_short_seed_rejected(ep11, import_secret):
    seed = import_seed(ep11, import_secret, bytes(range(1, 9)))
    with raises_ckr(CKR.KEY_SIZE_RANGE):
        ep11.derive_key(btc(BIP32_MASTERK), seed.blob, b"", derive_template())


def test_wrong_base_class_rejected(ep11, vector_seed):
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(btc(BIP32_PRV2PRV, 0, bytes(32)), vector_seed.blob, b"", derive_template())
    master = ep11.derive_key(btc(BIP32_MASTERK), vector_seed.blob, b"", derive_template())
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(btc(BIP32_MASTERK), master.blob, b"", derive_template())
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(btc(BIP32_PUB2PUB, 0, bytes(32)), master.blob, b"", derive_template())


def test_child_curve_mismatch_rejected(ep11, vector_seed):
    master = ep11.derive_key(btc(BIP32_MASTERK), vector_seed.blob, b"", derive_template())
    with raises_ckr(CKR.TEMPLATE_INCONSISTENT):
        ep11.derive_key(
            btc(BIP32_PRV2PRV, 0, master.checksum), master.blob, b"", derive_template(P256)
        )


def test_template_for_other_key_type_rejected(ep11, vector_seed):
    template = derive_template(extra={CKA.KEY_TYPE: CKK.AES})
    with raises_ckr(CKR.TEMPLATE_INCONSISTENT):
        ep11.derive_key(btc(BIP32_MASTERK), vector_seed.blob, b"", template)


def test_base_key_without_derive_rejected(ep11, vector_seed):
    master = ep11.derive_key(
        btc(BIP32_MASTERK), vector_seed.blob, b"", derive_template(extra={CKA.DERIVE: False})
    )
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.derive_key(
            btc(BIP32_PRV2PRV, 0, master.checksum), master.blob, b"", derive_template()
        )
