"""``grep11-emulator bench`` against the session server on 127.0.0.1.

These tests check counts and the shape of the report, never timing figures.
"""

import json
import socket

import pytest

from grpc_server import cli, loadgen


def run_bench(capsys, *arguments):
    status = cli.main(["bench", *arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def bench_json(capsys, address, *arguments):
    status, out, err = run_bench(capsys, "--address", address, "--json", *arguments)
    assert status == 0, err
    return json.loads(out)


def test_request_count_bound(grep11_emulator, capsys):
    summary = bench_json(
        capsys, grep11_emulator.address, "--scenario", "random", "--concurrency", "4",
        "--requests", "60",
    )
    assert summary["requests"] == 60
    assert summary["errors"] == 0
    assert summary["concurrency"] == 4
    assert summary["method"] == "/grep11.Crypto/GenerateRandom"
    assert summary["address"] == grep11_emulator.address


def test_percentiles_are_ordered(grep11_emulator, capsys):
    summary = bench_json(capsys, grep11_emulator.address, "--requests", "40")
    assert summary["rps"] > 0
    assert 0 < summary["p50_ms"]
    assert summary["p50_ms"] <= summary["p90_ms"]
    assert summary["p90_ms"] <= summary["p99_ms"]
    assert summary["p99_ms"] <= summary["max_ms"]


def test_duration_bound(grep11_emulator, capsys):
    summary = bench_json(
        capsys, grep11_emulator.address, "--scenario", "digest", "--concurrency", "2",
        "--duration", "0.5",
    )
    assert summary["requests"] > 0
    assert summary["errors"] == 0
    # The last calls in flight may finish after the limit, but not seconds later.
    assert 0.5 <= summary["elapsed_s"] < 5


@pytest.mark.parametrize("scenario", ["encrypt", "sign-ecdsa", "sign-rsa"])
def test_scenarios_with_keys(grep11_emulator, capsys, scenario):
    summary = bench_json(
        capsys, grep11_emulator.address, "--scenario", scenario, "--requests", "12",
        "--concurrency", "3",
    )
    assert summary["requests"] == 12
    assert summary["errors"] == 0


def test_client_processes(grep11_emulator, capsys):
    summary = bench_json(
        capsys, grep11_emulator.address, "--concurrency", "4", "--processes", "2",
        "--requests", "30",
    )
    assert summary["processes"] == 2
    assert summary["requests"] == 30
    assert summary["errors"] == 0


def test_text_report(grep11_emulator, capsys):
    status, out, _err = run_bench(
        capsys, "--address", grep11_emulator.address, "--requests", "10"
    )
    assert status == 0
    assert "10 succeeded, 0 failed" in out
    assert f"target       {grep11_emulator.address}" in out
    assert "p99" in out


def test_closed_port_fails(capsys):
    # A port that was free a moment ago: the setup call fails and nothing else is sent.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, out, err = run_bench(
        capsys, "--address", f"127.0.0.1:{port}", "--scenario", "encrypt", "--requests", "5"
    )
    assert status == 1
    assert out == ""
    assert f"127.0.0.1:{port}" in err
    assert "UNAVAILABLE" in err


@pytest.mark.parametrize(
    "arguments",
    [
        ["--concurrency", "0"],
        ["--requests", "0"],
        ["--duration", "-1"],
        ["--concurrency", "2", "--processes", "3"],
    ],
)
def test_invalid_bounds_rejected(grep11_emulator, capsys, arguments):
    status, _out, err = run_bench(capsys, "--address", grep11_emulator.address, *arguments)
    assert status == 2
    assert "must be" in err


def test_unknown_scenario_rejected(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["bench", "--address", "127.0.0.1:1", "--scenario", "nope"])
    assert raised.value.code == 2


def test_percentile_nearest_rank():
    samples = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert loadgen.percentile(samples, 0.5) == 3.0
    assert loadgen.percentile(samples, 1.0) == 5.0
    assert loadgen.percentile(samples, 0.01) == 1.0
    with pytest.raises(ValueError):
        loadgen.percentile([], 0.5)
