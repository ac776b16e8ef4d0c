"""Slow calls behind their limit, through a real server with a tiny slow-call limit.

Each test first occupies the server's only slow-call thread with a task that waits for an
event, so the slow calls that follow stay queued until the test releases it. Every check then
reads a state that cannot change under it; the polling deadline only stops a hung test.
"""

import threading
import time
from concurrent import futures

import grpc
import pytest
from conftest import grep11_error

from ep11core.constants import CKA, CKM, CKR
from grpc_server.generated import grep11_pb2 as pb
from grpc_server.generated import grep11_pb2_grpc
from grpc_server.server import EmulatorServer

CALL_THREADS = 2
SLOW_CALL_THREADS = 1
SLOW_CALL_QUEUE = 3
CAPACITY = SLOW_CALL_THREADS + SLOW_CALL_QUEUE
STATE_TIMEOUT_SECONDS = 60
CALL_TIMEOUT_SECONDS = 120
P256 = bytes.fromhex("06082a8648ce3d030107")
BLS12_381 = bytes.fromhex("060c2b0601040102820b87670302")
# A BLS12-381 signature from the Ethereum consensus-spec sign cases (any valid one would do).
BLS_SIGNATURE = bytes.fromhex(
    "b6ed936746e01f8ecf281f020953fbf1f01debd5657c4a383940b020b26507f6"
    "076334f91e2366c96e9ab279fb5158090352ea1c5b0c9274504f4f0e7053af24"
    "802e51e4568d164fe986834f41e55c8e850ce1f98458c0cfc9ab380b55285a55"
)


def attributes(**values) -> dict:
    converted = {}
    for name, value in values.items():
        if isinstance(value, bool):
            converted[int(CKA[name])] = pb.AttributeValue(AttributeTF=value)
        elif isinstance(value, int):
            converted[int(CKA[name])] = pb.AttributeValue(AttributeI=value)
        else:
            converted[int(CKA[name])] = pb.AttributeValue(AttributeB=value)
    return converted


def rsa_key_pair_request(bits: int = 2048) -> pb.GenerateKeyPairRequest:
    return pb.GenerateKeyPairRequest(
        Mech=pb.Mechanism(Mechanism=CKM.RSA_PKCS_KEY_PAIR_GEN),
        PubKeyTemplate=attributes(MODULUS_BITS=bits, PUBLIC_EXPONENT=65537, VERIFY=True),
        PrivKeyTemplate=attributes(SIGN=True),
    )


def dsa_parameters_request() -> pb.GenerateKeyRequest:
    return pb.GenerateKeyRequest(
        Mech=pb.Mechanism(Mechanism=CKM.DSA_PARAMETER_GEN), Template=attributes(PRIME_BITS=1024)
    )


def ec_key_pair_request() -> pb.GenerateKeyPairRequest:
    return pb.GenerateKeyPairRequest(
        Mech=pb.Mechanism(Mechanism=CKM.EC_KEY_PAIR_GEN),
        PubKeyTemplate=attributes(EC_PARAMS=P256, VERIFY=True),
        PrivKeyTemplate=attributes(SIGN=True),
    )


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    server = EmulatorServer(
        str(tmp_path_factory.mktemp("slow-state")),
        port=0,
        tls_port=0,
        http_port=0,
        max_workers=CALL_THREADS,
        slow_call_threads=SLOW_CALL_THREADS,
        slow_call_queue=SLOW_CALL_QUEUE,
    )
    server.start()
    yield server
    server.stop(grace=None)


@pytest.fixture(scope="module")
def stub(slow_server):
    with grpc.insecure_channel(slow_server.address) as channel:
        yield grep11_pb2_grpc.CryptoStub(channel)


@pytest.fixture
def held_thread(slow_server):
    """Occupy the only slow-call thread until the test sets the yielded event."""
    release = threading.Event()
    blocker = slow_server.slow_calls.executor.submit(release.wait)
    yield release
    release.set()
    blocker.result(timeout=CALL_TIMEOUT_SECONDS)


def wait_for_counts(server, description, condition):
    """Poll the slow-call counters until ``condition(counts)`` holds; fail after a long wait."""
    deadline = time.monotonic() + STATE_TIMEOUT_SECONDS
    while True:
        counts = server.slow_calls.counts()
        if condition(counts):
            return counts
        if time.monotonic() > deadline:
            pytest.fail(f"slow calls never reached '{description}': {counts}")
        time.sleep(0.01)


def test_limiter_has_configured_size(slow_server):
    assert slow_server.slow_calls.threads == SLOW_CALL_THREADS
    assert slow_server.slow_calls.queue_size == SLOW_CALL_QUEUE
    assert slow_server.slow_calls.capacity == CAPACITY


def test_cheap_calls_run_while_slow_calls_wait(slow_server, stub, held_thread):
    before = slow_server.slow_calls.counts()
    requests = [
        (stub.GenerateKeyPair, rsa_key_pair_request(4096)),
        (stub.GenerateKeyPair, rsa_key_pair_request(4096)),
        (stub.GenerateKeyPair, rsa_key_pair_request(2048)),
        (stub.GenerateKey, dsa_parameters_request()),
    ]
    assert len(requests) == CAPACITY
    # More slow calls than the server has call threads, so without the separate slow-call
    # workers they would hold every worker and starve the calls below.
    assert CAPACITY > CALL_THREADS
    with futures.ThreadPoolExecutor(max_workers=CAPACITY) as clients:
        calls = [
            clients.submit(method, request, timeout=CALL_TIMEOUT_SECONDS)
            for method, request in requests
        ]
        wait_for_counts(slow_server, "queue full", lambda counts: counts.admitted == CAPACITY)

        random = stub.GenerateRandom(
            pb.GenerateRandomRequest(Len=16), timeout=CALL_TIMEOUT_SECONDS
        )
        assert len(random.Rnd) == 16
        ec_pair = stub.GenerateKeyPair(ec_key_pair_request(), timeout=CALL_TIMEOUT_SECONDS)
        assert ec_pair.PrivKeyBytes
        aes = stub.GenerateKey(
            pb.GenerateKeyRequest(
                Mech=pb.Mechanism(Mechanism=CKM.AES_KEY_GEN),
                Template=attributes(VALUE_LEN=32, ENCRYPT=True),
            ),
            timeout=CALL_TIMEOUT_SECONDS,
        )
        assert aes.KeyBytes

        during = slow_server.slow_calls.counts()
        assert during.admitted == CAPACITY
        assert during.started == before.started
        assert not any(call.done() for call in calls)
        held_thread.set()
        results = [call.result() for call in calls]

    for result in results[:3]:
        assert result.PrivKeyBytes
        assert result.PubKeyBytes
    assert results[3].KeyBytes
    after = wait_for_counts(slow_server, "all done", lambda counts: counts.admitted == 0)
    assert after.started == before.started + CAPACITY
    assert after.cancelled == before.cancelled


def test_full_queue_rejects_slow_call(slow_server, stub, held_thread):
    before = slow_server.slow_calls.counts()
    queued = [stub.GenerateKeyPair.future(rsa_key_pair_request()) for _ in range(CAPACITY)]
    wait_for_counts(slow_server, "queue full", lambda counts: counts.admitted == CAPACITY)

    for call, request in (
        (stub.GenerateKeyPair, rsa_key_pair_request()),
        (stub.GenerateKey, dsa_parameters_request()),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call(request, timeout=CALL_TIMEOUT_SECONDS)
        status, detail = grep11_error(raised.value, grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert detail.Code == CKR.DEVICE_MEMORY
        assert status.message == "CKR_DEVICE_MEMORY"
        assert detail.Retry is True
        assert "retry later" in detail.Detail

    during = slow_server.slow_calls.counts()
    assert during.rejected == before.rejected + 2
    assert during.admitted == CAPACITY
    held_thread.set()
    for call in queued:
        assert call.result(timeout=CALL_TIMEOUT_SECONDS).PrivKeyBytes


def test_cancelled_queued_call_never_starts(slow_server, stub, held_thread):
    before = slow_server.slow_calls.counts()
    call = stub.GenerateKeyPair.future(rsa_key_pair_request(4096))
    wait_for_counts(slow_server, "call queued", lambda counts: counts.admitted == 1)

    assert call.cancel()
    left = wait_for_counts(
        slow_server,
        "cancelled call left the queue",
        lambda counts: counts.cancelled == before.cancelled + 1 and counts.admitted == 0,
    )
    assert left.started == before.started
    held_thread.set()

    # The slow-call thread takes its queue in order, so once a later call has finished, the
    # cancelled call's turn has passed.
    assert stub.GenerateKeyPair(rsa_key_pair_request(), timeout=CALL_TIMEOUT_SECONDS).PrivKeyBytes
    after = slow_server.slow_calls.counts()
    assert after.started == before.started + 1
    assert after.cancelled == before.cancelled + 1


def test_expired_queued_call_never_starts(slow_server, stub, held_thread):
    before = slow_server.slow_calls.counts()
    with pytest.raises(grpc.RpcError) as raised:
        stub.GenerateKeyPair(rsa_key_pair_request(4096), timeout=5)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_for_counts(
        slow_server,
        "expired call left the queue",
        lambda counts: counts.cancelled == before.cancelled + 1 and counts.admitted == 0,
    )
    held_thread.set()

    assert stub.GenerateKeyPair(rsa_key_pair_request(), timeout=CALL_TIMEOUT_SECONDS).PrivKeyBytes
    after = slow_server.slow_calls.counts()
    assert after.started == before.started + 1


def aggregate_mechanism(mode: int, elements: list) -> pb.Mechanism:
    parameter = pb.ECAGGParm(
        Version=0, Mode=mode, PerElementSize=len(elements[0]), Elements=b"".join(elements)
    )
    return pb.Mechanism(Mechanism=CKM.IBM_EC_AGGREGATE, ECAGGParameter=parameter)


def test_bls_aggregation_waits_as_slow_call(slow_server, stub, held_thread):
    pairs = [
        stub.GenerateKeyPair(
            pb.GenerateKeyPairRequest(
                Mech=pb.Mechanism(Mechanism=CKM.EC_KEY_PAIR_GEN),
                PubKeyTemplate=attributes(EC_PARAMS=BLS12_381, DERIVE=True, VERIFY=True),
                PrivKeyTemplate=attributes(SIGN=True),
            ),
            timeout=CALL_TIMEOUT_SECONDS,
        )
        for _ in range(2)
    ]
    before = slow_server.slow_calls.counts()
    signatures = stub.SignSingle.future(
        pb.SignSingleRequest(Mech=aggregate_mechanism(1, [BLS_SIGNATURE] * 2)),
        timeout=CALL_TIMEOUT_SECONDS,
    )
    public_key = stub.DeriveKey.future(
        pb.DeriveKeyRequest(
            Mech=aggregate_mechanism(2, [pair.PubKeyBytes for pair in pairs]),
        ),
        timeout=CALL_TIMEOUT_SECONDS,
    )
    wait_for_counts(slow_server, "both queued", lambda counts: counts.admitted == 2)
    assert slow_server.slow_calls.counts().started == before.started
    assert not signatures.done()
    assert not public_key.done()
    held_thread.set()

    assert len(signatures.result().Signature) == len(BLS_SIGNATURE)
    assert public_key.result().NewKeyBytes
    assert slow_server.slow_calls.counts().started == before.started + 2
