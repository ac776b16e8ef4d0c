"""The server figures: small-RPC throughput against an empty RPC, core scaling, and latency
under RSA-4096 key generation. Every server here is one that the runner started on 127.0.0.1.
"""

import multiprocessing
import os
import statistics
import time
from typing import Dict, List, Optional, Sequence

from grpc_server.loadgen import Call, LoadResult, percentile, prepare_call, run_load

from . import servers
from .empty_server import METHOD as EMPTY_METHOD
from .measure import ratio

EMPTY_CALL = Call(EMPTY_METHOD, b"", None)

# The RPCs compared with the empty RPC, by loadgen scenario.
SMALL_RPCS = {
    "random": "GenerateRandom",
    "encrypt": "EncryptSingle",
    "sign-ecdsa": "SignSingle",
}


class _Round:
    """One load run and the CPU time that the server process used during it."""

    def __init__(self, result: LoadResult, server_cpu_seconds: float):
        self.result = result
        self.server_cpu_seconds = server_cpu_seconds


def _interleaved_loads(
    targets: Dict[str, tuple], concurrency: int, rounds: int, seconds: float
) -> Dict[str, List[_Round]]:
    """Run each (server, call) target for ``seconds`` per round, alternating targets."""
    runs: Dict[str, List[_Round]] = {name: [] for name in targets}
    for name, (server, call) in targets.items():
        run_load(server.address, call, concurrency=concurrency, duration=min(seconds, 0.5))
    for _ in range(rounds):
        for name, (server, call) in targets.items():
            cpu_before = server.cpu_seconds()
            result = run_load(server.address, call, concurrency=concurrency, duration=seconds)
            runs[name].append(_Round(result, server.cpu_seconds() - cpu_before))
    return runs


def _summary(runs: List[_Round]) -> dict:
    """Median rps, pooled latency percentiles, and the server's CPU time per call and share.

    ``server_cpu_share`` is server CPU seconds per wall second: 1.0 is one CPU kept busy. On a
    machine shared with other jobs it shows how much CPU the server actually got.
    """
    latencies = [sample for run in runs for sample in run.result.latencies]
    requests = sum(run.result.requests for run in runs)
    cpu_seconds = sum(run.server_cpu_seconds for run in runs)
    elapsed = sum(run.result.elapsed for run in runs)
    return {
        "rps": round(statistics.median(run.result.throughput for run in runs), 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3) if latencies else None,
        "requests": requests,
        "errors": sum(run.result.errors for run in runs),
        "server_cpu_us_per_call": round(cpu_seconds / requests * 1e6, 1) if requests else None,
        "server_cpu_share": round(cpu_seconds / elapsed, 2) if elapsed else None,
    }


def measure_rpcs(
    grep11: servers.ServerProcess,
    empty: servers.ServerProcess,
    concurrency: int,
    rounds: int,
    seconds: float,
) -> List[dict]:
    """Return one record per small RPC: its rps, p50 and p99, and the empty RPC's rps."""
    targets = {"empty": (empty, EMPTY_CALL)}
    for scenario in SMALL_RPCS:
        targets[scenario] = (grep11, prepare_call(grep11.address, scenario))
    results = _interleaved_loads(targets, concurrency, rounds, seconds)
    empty_summary = _summary(results["empty"])
    records = []
    for scenario, rpc in SMALL_RPCS.items():
        summary = _summary(results[scenario])
        records.append(
            {
                "rpc": rpc,
                "scenario": scenario,
                "concurrency": concurrency,
                **summary,
                "empty_rps": empty_summary["rps"],
                "empty_p50_ms": empty_summary["p50_ms"],
                "empty_p99_ms": empty_summary["p99_ms"],
                "empty_server_cpu_us_per_call": empty_summary["server_cpu_us_per_call"],
                "vs_empty": ratio(summary["rps"], empty_summary["rps"]),
            }
        )
    return records


def sweep_concurrency(
    grep11: servers.ServerProcess,
    empty: servers.ServerProcess,
    concurrencies: Sequence[int],
    seconds: float,
) -> List[dict]:
    """Return the throughput of each small RPC and of the empty RPC at each concurrency."""
    targets = {"empty": (empty, EMPTY_CALL)}
    for scenario in SMALL_RPCS:
        targets[scenario] = (grep11, prepare_call(grep11.address, scenario))
    points = []
    for concurrency in concurrencies:
        results = _interleaved_loads(targets, concurrency, 1, seconds)
        for name, runs in results.items():
            summary = _summary(runs)
            points.append(
                {
                    "rpc": SMALL_RPCS.get(name, "empty"),
                    "concurrency": concurrency,
                    "rps": summary["rps"],
                    "p99_ms": summary["p99_ms"],
                }
            )
    return points


def measure_scaling(concurrency: int, rounds: int, seconds: float) -> dict:
    """RSA-2048 SignSingle throughput of a server on every CPU over one pinned to one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    with servers.start_grep11(cpus=cpus[:1]) as one, servers.start_grep11(cpus=cpus) as every:
        targets = {
            "one": (one, prepare_call(one.address, "sign-rsa")),
            "every": (every, prepare_call(every.address, "sign-rsa")),
        }
        results = _interleaved_loads(targets, concurrency, rounds, seconds)
    one_summary = _summary(results["one"])
    every_summary = _summary(results["every"])
    return {
        "rpc": "SignSingle",
        "scenario": "sign-rsa",
        "concurrency": concurrency,
        "cpus": len(cpus),
        "one_core_rps": one_summary["rps"],
        "all_cores_rps": every_summary["rps"],
        "one_core_server_cpu_share": one_summary["server_cpu_share"],
        "all_cores_server_cpu_share": every_summary["server_cpu_share"],
        "ratio": ratio(every_summary["rps"], one_summary["rps"]),
    }


def _background_keygen(address, call, clients, seconds, started, finished) -> None:
    started.set()
    result = run_load(address, call, concurrency=clients, duration=seconds)
    finished.put((result.requests, result.errors))


def measure_latency_under_keygen(
    grep11: servers.ServerProcess, seconds: float, keygen_clients: Optional[int] = None
) -> dict:
    """GenerateRandom p99 with one client, idle and while RSA-4096 key generations run.

    ``keygen_clients`` (default: one per CPU) keep an RSA-4096 GenerateKeyPair in flight each.
    """
    clients = keygen_clients or len(os.sched_getaffinity(0))
    random_call = prepare_call(grep11.address, "random")
    keygen_call = prepare_call(grep11.address, "keygen-rsa4096")
    run_load(grep11.address, random_call, concurrency=1, duration=0.5)  # warm-up
    idle = run_load(grep11.address, random_call, concurrency=1, duration=seconds)

    context = multiprocessing.get_context("spawn")
    started = context.Event()
    finished = context.Queue()
    background = context.Process(
        target=_background_keygen,
        args=(grep11.address, keygen_call, clients, seconds + 2.0, started, finished),
    )
    background.start()
    try:
        started.wait(timeout=60)
        # Let the first key generations reach the server before sampling.
        time.sleep(1.0)
        loaded = run_load(grep11.address, random_call, concurrency=1, duration=seconds)
        # The background run ends on its own after its duration and the calls in flight.
        keygens, keygen_errors = finished.get(timeout=120)
    finally:
        background.join(timeout=120)
        if background.is_alive():
            background.terminate()
            background.join()
    idle_p99 = idle.percentile_ms(0.99)
    loaded_p99 = loaded.percentile_ms(0.99)
    return {
        "rpc": "GenerateRandom",
        "background": f"{clients} concurrent RSA-4096 GenerateKeyPair calls",
        "idle_p50_ms": _rounded(idle.percentile_ms(0.50)),
        "idle_p99_ms": _rounded(idle_p99),
        "loaded_p50_ms": _rounded(loaded.percentile_ms(0.50)),
        "loaded_p99_ms": _rounded(loaded_p99),
        "idle_requests": idle.requests,
        "loaded_requests": loaded.requests,
        "keygens_completed": keygens,
        "keygen_errors": keygen_errors,
        "ratio": ratio(loaded_p99, idle_p99),
    }


def _rounded(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 3)
