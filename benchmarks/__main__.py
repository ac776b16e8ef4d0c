"""``python -m benchmarks [--quick] [--json PATH] [--plot PATH]``: measure every figure in one run.

The run measures five sets of figures side by side. The engine runs each operation beside
``cryptography`` and SoftHSMv2, and its post-quantum, BLS12-381 and SHA3-256 operations beside
``cryptography``, ``py_arkworks_bls12381`` and ``hashlib``. The GREP11 server's small RPCs run
beside an empty RPC on the same grpcio stack. RSA-2048 SignSingle runs on every CPU and on one, and GenerateRandom latency
is taken idle and during RSA-4096 key generation. The runner prints one table with each ratio
beside its target, and it can write the figures as JSON and plot server throughput against
client concurrency.
"""

import argparse
import datetime
import json
import os
import platform
import ssl
import subprocess
import sys
import time
from typing import List, Optional

from . import engine_ops, pqc_ops, server_rpcs, servers, softhsm

# Rounds and seconds per round; every competitor of a figure runs once per round, alternating.
PROFILES = {
    "full": {
        "engine_rounds": 5,
        "engine_seconds": 0.5,
        "rpc_rounds": 5,
        "rpc_seconds": 3.0,
        "scaling_rounds": 3,
        "scaling_seconds": 4.0,
        "latency_seconds": 8.0,
        "sweep": (1, 2, 4, 8, 16, 32, 64),
        "sweep_seconds": 2.0,
    },
    "quick": {
        "engine_rounds": 3,
        "engine_seconds": 0.25,
        "rpc_rounds": 3,
        "rpc_seconds": 1.5,
        "scaling_rounds": 2,
        "scaling_seconds": 2.0,
        "latency_seconds": 4.0,
        "sweep": (1, 4, 16, 64),
        "sweep_seconds": 1.0,
    },
    # Each figure once with tiny rounds: checks that the runner works, measures nothing useful.
    "smoke": {
        "engine_rounds": 1,
        "engine_seconds": 0.02,
        "rpc_rounds": 1,
        "rpc_seconds": 0.2,
        "scaling_rounds": 1,
        "scaling_seconds": 0.5,
        "latency_seconds": 0.5,
        "sweep": (1, 4),
        "sweep_seconds": 0.2,
    },
}

RPC_CONCURRENCY = 16
SCALING_CONCURRENCY = 4

# (figure, key in the JSON, comparison, target)
TARGET_ROWS = (
    ("engine / cryptography, RSA-2048 sign", ("engine_ops", "rsa2048_sign", "engine_vs_openssl"), ">=", 0.9),
    ("engine / cryptography, ECDSA P-256 sign", ("engine_ops", "ecdsa_p256_sign", "engine_vs_openssl"), ">=", 0.8),
    ("engine / cryptography, AES-256-CBC-PAD 1 KiB", ("engine_ops", "aes256_cbc_pad_encrypt", "engine_vs_openssl"), ">=", 1.0),
    ("engine / cryptography, SHA-256 1 KiB", ("engine_ops", "sha256_digest", "engine_vs_openssl"), ">=", 0.7),
    ("engine / SoftHSMv2, RSA-2048 sign", ("engine_ops", "rsa2048_sign", "engine_vs_softhsm"), ">=", 2.0),
    ("engine / SoftHSMv2, ECDSA P-256 sign", ("engine_ops", "ecdsa_p256_sign", "engine_vs_softhsm"), ">=", 2.0),
    ("engine / SoftHSMv2, AES-256-CBC-PAD 1 KiB", ("engine_ops", "aes256_cbc_pad_encrypt", "engine_vs_softhsm"), ">=", 2.0),
    ("engine / SoftHSMv2, SHA-256 1 KiB", ("engine_ops", "sha256_digest", "engine_vs_softhsm"), ">=", 2.0),
    ("engine / SoftHSMv2, AES-256 key generation", ("engine_ops", "aes256_keygen", "engine_vs_softhsm"), ">=", 2.0),
    ("GenerateRandom 32 B / empty RPC", ("rpcs", "GenerateRandom", "vs_empty"), ">=", 0.8),
    ("EncryptSingle 1 KiB / empty RPC", ("rpcs", "EncryptSingle", "vs_empty"), ">=", 0.8),
    ("SignSingle ECDSA P-256 / empty RPC", ("rpcs", "SignSingle", "vs_empty"), ">=", 0.8),
    ("RSA-2048 SignSingle, all cores / one core", ("scaling", None, "ratio"), ">=", 1.6),
    ("GenerateRandom p99, RSA-4096 keygen / idle", ("latency", None, "ratio"), "<=", 10.0),
)


def machine_description() -> dict:
    """Return the facts that BENCHMARKS.md reports about the machine, read at run time."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (line.split(":", 1)[1].strip() for line in lscpu.splitlines()
             if line.startswith("Model name")),
            None,
        )
    except OSError:
        model = None
    from ep11core import _crypto  # noqa: F401  (loads the libcrypto the engine links)

    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        # Python's ssl module and the engine both link the system libcrypto here; the
        # cryptography wheel brings its own OpenSSL.
        "openssl_system": ssl.OPENSSL_VERSION,
        "openssl_cryptography": _cryptography_openssl(),
        "load_average": os.getloadavg(),
    }


def _cryptography_openssl() -> str:
    from cryptography.hazmat.backends.openssl.backend import backend

    return backend.openssl_version_text()


def _lookup(results: dict, path) -> Optional[float]:
    section, name, field = path
    if section == "engine_ops":
        row = next((row for row in results["engine_ops"] if row["op"] == name), None)
        return row.get(field) if row else None
    if section == "rpcs":
        row = next((row for row in results["rpcs"] if row["rpc"] == name), None)
        return row.get(field) if row else None
    return results[section].get(field)


def target_table(results: dict) -> List[dict]:
    rows = []
    for figure, path, comparison, target in TARGET_ROWS:
        measured = _lookup(results, path)
        if measured is None:
            met = None
        elif comparison == ">=":
            met = measured >= target
        else:
            met = measured <= target
        rows.append(
            {"figure": figure, "measured": measured, "target": f"{comparison} {target}", "met": met}
        )
    return rows


def print_report(results: dict) -> None:
    print("\nengine operations per second")
    print(f"  {'op':24} {'engine':>10} {'cryptography':>13} {'SoftHSMv2':>10}")
    for row in results["engine_ops"]:
        softhsm_ops = "-" if row["softhsm_ops"] is None else f"{row['softhsm_ops']:.0f}"
        print(
            f"  {row['op']:24} {row['engine_ops']:10.0f} {row['openssl_ops']:13.0f} "
            f"{softhsm_ops:>10}"
        )
    _print_pqc_report(results["pqc_ops"])
    print(f"\nGREP11 RPCs, {RPC_CONCURRENCY} concurrent clients")
    print(
        f"  {'rpc':16} {'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'empty rps':>10} "
        f"{'server CPU us/call':>19} {'(empty)':>8}"
    )
    for row in results["rpcs"]:
        print(
            f"  {row['rpc']:16} {row['rps']:8.0f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
            f"{row['empty_rps']:10.0f} {row['server_cpu_us_per_call']:19.0f} "
            f"{row['empty_server_cpu_us_per_call']:8.0f}"
        )
    scaling = results["scaling"]
    print(
        f"\nRSA-2048 SignSingle: {scaling['all_cores_rps']:.0f} rps on {scaling['cpus']} CPUs "
        f"(server used {scaling['all_cores_server_cpu_share']} CPUs), "
        f"{scaling['one_core_rps']:.0f} rps on one "
        f"(server used {scaling['one_core_server_cpu_share']} CPUs)"
    )
    latency = results["latency"]
    print(
        f"GenerateRandom p99: {latency['idle_p99_ms']} ms idle, {latency['loaded_p99_ms']} ms "
        f"with {latency['background']}"
    )
    print("\ntargets")
    for row in results["targets"]:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[row["met"]]
        measured = "-" if row["measured"] is None else f"{row['measured']:.2f}"
        print(f"  {row['figure']:46} {measured:>6}  target {row['target']:7} {verdict}")


def _print_pqc_report(records: List[dict]) -> None:
    print("\npost-quantum, BLS12-381 and SHA3-256 operations per second")
    print(
        f"  {'op':26} {'engine':>8} {'reference':>10} {'engine/ref':>10}  "
        f"{'engine / engine op':>18}"
    )
    for row in records:
        reference = "-" if row["reference_ops"] is None else f"{row['reference_ops']:.0f}"
        versus_reference = (
            "-" if row["engine_vs_reference"] is None else f"{row['engine_vs_reference']:.2f}"
        )
        versus_baseline = ""
        if row["baseline_op"] is not None:
            versus_baseline = f"{row['engine_vs_baseline']:.2f} of {row['baseline_op']}"
        print(
            f"  {row['op']:26} {row['engine_ops']:8.0f} {reference:>10} {versus_reference:>10}  "
            f"{versus_baseline}"
        )
    references = sorted({row["reference"] for row in records if row["reference"]})
    print(f"  references: {', '.join(references)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure the engine and the GREP11 server against their baselines.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="shorter rounds: about 2 minutes on 2 cores"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one tiny round per figure, to check that the runner works (figures are noise)",
    )
    parser.add_argument("--json", metavar="PATH", help="write every figure as JSON to PATH")
    parser.add_argument(
        "--plot",
        metavar="PATH",
        help="also sweep client concurrency and plot server throughput as PNG to PATH "
        "(needs matplotlib)",
    )
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    profile_name = "full"
    if args.quick:
        profile_name = "quick"
    if args.smoke:
        profile_name = "smoke"
    profile = PROFILES[profile_name]
    started = time.monotonic()
    results: dict = {
        "schema": 1,
        "profile": profile_name,
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_description(),
    }

    token, reason = softhsm.open_token()
    if token is None:
        print(f"SoftHSMv2 comparison skipped: {reason}; softhsm_ops is null.", flush=True)
    results["softhsm"] = {
        "available": token is not None,
        "reason": reason,
        "version": token.version if token else None,
    }
    print("measuring engine operations ...", flush=True)
    try:
        results["engine_ops"] = engine_ops.measure(
            profile["engine_rounds"], profile["engine_seconds"], token
        )
    finally:
        if token is not None:
            token.close()
    print("measuring post-quantum, BLS12-381 and SHA3-256 operations ...", flush=True)
    results["pqc_ops"] = pqc_ops.measure(profile["engine_rounds"], profile["engine_seconds"])

    print("starting servers on 127.0.0.1 ...", flush=True)
    with servers.start_grep11() as grep11, servers.start_empty() as empty:
        print("measuring GREP11 RPCs against the empty RPC ...", flush=True)
        results["rpcs"] = server_rpcs.measure_rpcs(
            grep11, empty, RPC_CONCURRENCY, profile["rpc_rounds"], profile["rpc_seconds"]
        )
        print("measuring GenerateRandom latency during RSA-4096 key generation ...", flush=True)
        results["latency"] = server_rpcs.measure_latency_under_keygen(
            grep11, profile["latency_seconds"]
        )
        if args.plot:
            print("sweeping client concurrency ...", flush=True)
            results["concurrency_sweep"] = server_rpcs.sweep_concurrency(
                grep11, empty, profile["sweep"], profile["sweep_seconds"]
            )
    print("measuring RSA-2048 SignSingle on one CPU and on all ...", flush=True)
    results["scaling"] = server_rpcs.measure_scaling(
        SCALING_CONCURRENCY, profile["scaling_rounds"], profile["scaling_seconds"]
    )
    results["targets"] = target_table(results)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["machine"]["load_average_end"] = os.getloadavg()

    print_report(results)
    print(f"\nfinished in {results['elapsed_s']:.0f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
            handle.write("\n")
        print(f"wrote {args.json}")
    if args.plot:
        from .plot import plot_sweep

        plot_sweep(results["concurrency_sweep"], results["machine"], args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
