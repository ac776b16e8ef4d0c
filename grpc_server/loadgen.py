"""A load generator for a running GREP11 server: ``grep11-emulator bench``.

``run_load`` drives one address with ``concurrency`` clients, each on its own channel and
connection, that send one unary call after another until a request count or a time limit is
reached, whichever comes first. It reports the throughput and latency percentiles of the
successful calls. The clients run as asyncio tasks (``grpc.aio``), optionally spread over
several processes, so the client side spends little CPU time per call.

The generator sends traffic only to the address it is given. Every run is bounded: by the
request count, by the time limit, or by both; a run with neither uses ``DEFAULT_DURATION``.
"""

import asyncio
import dataclasses
import math
import multiprocessing
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import grpc

from ep11core.constants import CKA, CKM
from ep11core.types import Mechanism
from grpc_server.client import RemoteEngine, mechanism_message
from grpc_server.generated import grep11_pb2 as pb

DEFAULT_DURATION = 10.0
# Upper bounds of one run, so a typing error cannot start a load loop of days.
MAX_DURATION = 3600.0
MAX_REQUESTS = 100_000_000
MAX_CONCURRENCY = 4096
# A call that takes longer than this counts as an error (gRPC DEADLINE_EXCEEDED).
CALL_TIMEOUT_SECONDS = 60.0

DATA_BYTES = 1024
RANDOM_BYTES = 32
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")  # DER OID 1.2.840.10045.3.1.7

_CHANNEL_OPTIONS = (
    # Channels with equal arguments share one connection by default; each client gets its own.
    ("grpc.use_local_subchannel_pool", 1),
)


@dataclasses.dataclass(frozen=True)
class Call:
    """One prepared unary call: the method path, the serialised request and the decoder."""

    method: str
    request: bytes
    response_deserializer: Optional[Callable[[bytes], object]] = None


def _grep11_call(name: str, request, response_type) -> Call:
    return Call(f"/grep11.Crypto/{name}", request.SerializeToString(), response_type.FromString)


def _random_call(engine: RemoteEngine) -> Call:
    return _grep11_call(
        "GenerateRandom", pb.GenerateRandomRequest(Len=RANDOM_BYTES), pb.GenerateRandomResponse
    )


def _digest_call(engine: RemoteEngine) -> Call:
    request = pb.DigestSingleRequest(
        Mech=mechanism_message(Mechanism(CKM.SHA256)), Data=os.urandom(DATA_BYTES)
    )
    return _grep11_call("DigestSingle", request, pb.DigestSingleResponse)


def _encrypt_call(engine: RemoteEngine) -> Call:
    key = engine.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32})
    request = pb.EncryptSingleRequest(
        Mech=mechanism_message(Mechanism(CKM.AES_CBC_PAD, os.urandom(16))),
        Key=pb.KeyBlob(KeyBlobs=[key.blob]),
        Plain=os.urandom(DATA_BYTES),
    )
    return _grep11_call("EncryptSingle", request, pb.EncryptSingleResponse)


def _sign_call(mechanism: int, private_blob: bytes) -> Call:
    request = pb.SignSingleRequest(
        Mech=mechanism_message(Mechanism(mechanism)),
        PrivKey=pb.KeyBlob(KeyBlobs=[private_blob]),
        Data=os.urandom(DATA_BYTES),
    )
    return _grep11_call("SignSingle", request, pb.SignSingleResponse)


def _sign_ecdsa_call(engine: RemoteEngine) -> Call:
    pair = engine.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: P256_PARAMS}, {}
    )
    return _sign_call(CKM.ECDSA_SHA256, pair.private_blob)


def _sign_rsa_call(engine: RemoteEngine) -> Call:
    pair = engine.generate_key_pair(
        Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN), {CKA.MODULUS_BITS: 2048}, {}
    )
    return _sign_call(CKM.SHA256_RSA_PKCS, pair.private_blob)


def _rsa4096_keygen_call(engine: RemoteEngine) -> Call:
    request = pb.GenerateKeyPairRequest(
        Mech=mechanism_message(Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN)),
        PubKeyTemplate={CKA.MODULUS_BITS: pb.AttributeValue(AttributeI=4096)},
    )
    return _grep11_call("GenerateKeyPair", request, pb.GenerateKeyPairResponse)


# Each scenario prepares its call once (making any key it needs on the target server) and then
# repeats the same serialised request.
SCENARIOS: Dict[str, Tuple[str, Callable[[RemoteEngine], Call]]] = {
    "random": (f"GenerateRandom of {RANDOM_BYTES} bytes", _random_call),
    "digest": (f"DigestSingle, CKM_SHA256 of {DATA_BYTES} bytes", _digest_call),
    "encrypt": (
        f"EncryptSingle, CKM_AES_CBC_PAD with an AES-256 key, {DATA_BYTES} bytes",
        _encrypt_call,
    ),
    "sign-ecdsa": (
        f"SignSingle, CKM_ECDSA_SHA256 with a P-256 key, {DATA_BYTES} bytes",
        _sign_ecdsa_call,
    ),
    "sign-rsa": (
        f"SignSingle, CKM_SHA256_RSA_PKCS with an RSA-2048 key, {DATA_BYTES} bytes",
        _sign_rsa_call,
    ),
    "keygen-rsa4096": ("GenerateKeyPair, RSA-4096", _rsa4096_keygen_call),
}


def prepare_call(address: str, scenario: str) -> Call:
    """Build the request of ``scenario``, making the keys it needs on the server at ``address``."""
    try:
        _description, build = SCENARIOS[scenario]
    except KeyError:
        raise ValueError(
            f"unknown scenario {scenario!r}: expected one of {', '.join(SCENARIOS)}"
        ) from None
    with grpc.insecure_channel(address) as channel:
        return build(RemoteEngine(channel, timeout=CALL_TIMEOUT_SECONDS))


@dataclasses.dataclass
class LoadResult:
    """The outcome of one load run. Latencies are of successful calls, in seconds."""

    address: str
    method: str
    concurrency: int
    processes: int
    requests: int
    errors: int
    elapsed: float
    latencies: List[float] = dataclasses.field(repr=False)
    error_codes: Dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Successful calls per second over the whole run."""
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, fraction: float) -> Optional[float]:
        """Return the nearest-rank latency percentile in milliseconds, or None without samples."""
        return percentile(self.latencies, fraction) * 1000 if self.latencies else None

    def summary(self) -> dict:
        """Return the figures of the run as a JSON-ready dict (latencies in milliseconds)."""
        return {
            "address": self.address,
            "method": self.method,
            "concurrency": self.concurrency,
            "processes": self.processes,
            "requests": self.requests,
            "errors": self.errors,
            "error_codes": dict(self.error_codes),
            "elapsed_s": round(self.elapsed, 3),
            "rps": round(self.throughput, 1),
            "p50_ms": _rounded(self.percentile_ms(0.50)),
            "p90_ms": _rounded(self.percentile_ms(0.90)),
            "p99_ms": _rounded(self.percentile_ms(0.99)),
            "max_ms": _rounded(max(self.latencies) * 1000 if self.latencies else None),
        }


def _rounded(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 3)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile (``fraction`` in (0, 1]) of non-empty ``samples``."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclasses.dataclass
class _Budget:
    """The shared bounds of the clients in one process."""

    remaining: Optional[int]
    deadline: float

    def take(self) -> bool:
        if time.monotonic() >= self.deadline:
            return False
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


async def _client(address: str, call: Call, budget: _Budget, latencies, error_codes) -> None:
    async with grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS) as channel:
        method = channel.unary_unary(
            call.method,
            request_serializer=None,
            response_deserializer=call.response_deserializer,
        )
        while budget.take():
            started = time.perf_counter()
            try:
                await method(call.request, timeout=CALL_TIMEOUT_SECONDS)
            except grpc.aio.AioRpcError as error:
                name = error.code().name
                error_codes[name] = error_codes.get(name, 0) + 1
                continue
            latencies.append(time.perf_counter() - started)


async def _drive(address, call, concurrency, requests, deadline):
    latencies: List[float] = []
    error_codes: Dict[str, int] = {}
    budget = _Budget(requests, deadline)
    await asyncio.gather(
        *(_client(address, call, budget, latencies, error_codes) for _ in range(concurrency))
    )
    return latencies, error_codes


def _process_main(address, call, concurrency, requests, deadline, start_at):
    # Every process waits for the same start instant, so their intervals coincide.
    delay = start_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    return asyncio.run(_drive(address, call, concurrency, requests, deadline))


def _shares(total: Optional[int], parts: int) -> List[Optional[int]]:
    if total is None:
        return [None] * parts
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def run_load(
    address: str,
    call: Call,
    concurrency: int = 1,
    requests: Optional[int] = None,
    duration: Optional[float] = None,
    processes: int = 1,
) -> LoadResult:
    """Send ``call`` to ``address`` from ``concurrency`` clients until a bound is reached.

    ``requests`` bounds the number of calls and ``duration`` the seconds; with neither, the run
    lasts ``DEFAULT_DURATION``. ``processes`` spreads the clients over that many processes
    (started with ``spawn``); their monotonic clocks agree, as they share one machine.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be 1 to {MAX_CONCURRENCY}, got {concurrency}")
    if not 1 <= processes <= concurrency:
        raise ValueError(f"processes must be 1 to the concurrency {concurrency}, got {processes}")
    if requests is not None and not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"requests must be 1 to {MAX_REQUESTS}, got {requests}")
    if duration is not None and not 0 < duration <= MAX_DURATION:
        raise ValueError(f"duration must be above 0 and at most {MAX_DURATION} s, got {duration}")
    if requests is None and duration is None:
        duration = DEFAULT_DURATION
    seconds = duration if duration is not None else MAX_DURATION

    if processes == 1:
        started = time.monotonic()
        latencies, error_codes = asyncio.run(
            _drive(address, call, concurrency, requests, started + seconds)
        )
        elapsed = time.monotonic() - started
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes) as pool:
            # Starting the interpreters takes about a second; the run begins after that.
            start_at = time.monotonic() + 1.5 + 0.2 * processes
            jobs = [
                pool.apply_async(
                    _process_main,
                    (address, call, clients, share, start_at + seconds, start_at),
                )
                for clients, share in zip(
                    _shares(concurrency, processes), _shares(requests, processes)
                )
            ]
            parts = [job.get() for job in jobs]
            elapsed = time.monotonic() - start_at
        latencies = [sample for part_latencies, _codes in parts for sample in part_latencies]
        error_codes = {}
        for _latencies, codes in parts:
            for name, count in codes.items():
                error_codes[name] = error_codes.get(name, 0) + count

    return LoadResult(
        address=address,
        method=call.method,
        concurrency=concurrency,
        processes=processes,
        requests=len(latencies),
        errors=sum(error_codes.values()),
        elapsed=elapsed,
        latencies=latencies,
        error_codes=error_codes,
    )


# --- the ``grep11-emulator bench`` command


def add_arguments(parser) -> None:
    """Add the options of ``grep11-emulator bench`` to an argparse parser."""
    parser.add_argument(
        "--address",
        required=True,
        help="host:port of the running GREP11 server's plaintext port; the only target",
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default="random",
        help="the call to repeat: "
        + "; ".join(f"{name}: {description}" for name, (description, _) in SCENARIOS.items())
        + " (default: random)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help=f"concurrent clients, each with its own connection, 1 to {MAX_CONCURRENCY} "
        "(default: 8)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help=f"stop after this many calls in total, at most {MAX_REQUESTS}",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help=f"stop after this many seconds, at most {MAX_DURATION:.0f}; with neither "
        f"--requests nor --duration the run lasts {DEFAULT_DURATION:.0f} s",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="spread the clients over this many client processes (default: 1)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON object"
    )


def bench_command(args) -> int:
    """Run ``grep11-emulator bench``; exit status 1 when no call succeeded or the setup failed."""
    import json
    import sys

    try:
        call = prepare_call(args.address, args.scenario)
        result = run_load(
            args.address,
            call,
            concurrency=args.concurrency,
            requests=args.requests,
            duration=args.duration,
            processes=args.processes,
        )
    except ValueError as error:
        print(f"grep11-emulator bench: {error}", file=sys.stderr)
        return 2
    except grpc.RpcError as error:
        print(
            f"grep11-emulator bench: preparing {args.scenario} on {args.address} failed: "
            f"{error.code().name} {error.details()}",
            file=sys.stderr,
        )
        return 1
    summary = result.summary()
    summary["scenario"] = args.scenario
    if args.json:
        print(json.dumps(summary))
    else:
        print(_format_summary(summary))
    return 0 if result.requests else 1


def _format_summary(summary: dict) -> str:
    def milliseconds(value):
        return "-" if value is None else f"{value:.3f} ms"

    errors = ", ".join(f"{name} {count}" for name, count in summary["error_codes"].items())
    lines = [
        f"scenario     {summary['scenario']} ({summary['method']})",
        f"target       {summary['address']}",
        f"clients      {summary['concurrency']} in {summary['processes']} process(es)",
        f"requests     {summary['requests']} succeeded, {summary['errors']} failed"
        + (f" ({errors})" if errors else ""),
        f"elapsed      {summary['elapsed_s']:.3f} s",
        f"throughput   {summary['rps']:.1f} requests/s",
        f"latency      p50 {milliseconds(summary['p50_ms'])}, p90 {milliseconds(summary['p90_ms'])}, "
        f"p99 {milliseconds(summary['p99_ms'])}, max {milliseconds(summary['max_ms'])}",
    ]
    return "\n".join(lines)
