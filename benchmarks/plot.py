"""The plot of server throughput against client concurrency (matplotlib, PNG)."""

from typing import List


def plot_sweep(points: List[dict], machine: dict, path: str) -> None:
    """Draw one line per RPC (requests per second over concurrent clients) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4.2), dpi=110)
    names = []
    for point in points:
        if point["rpc"] not in names:
            names.append(point["rpc"])
    for name in names:
        series = sorted(
            (point["concurrency"], point["rps"]) for point in points if point["rpc"] == name
        )
        label = "empty RPC (grpcio baseline)" if name == "empty" else name
        style = "--" if name == "empty" else "-"
        axes.plot([x for x, _ in series], [y for _, y in series], style, marker="o", label=label)
    axes.set_xscale("log", base=2)
    concurrencies = sorted({point["concurrency"] for point in points})
    axes.set_xticks(concurrencies, [str(value) for value in concurrencies])
    axes.set_xlabel("concurrent clients")
    axes.set_ylabel("requests per second")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend()
    axes.set_title(
        f"GREP11 server throughput, {machine.get('cpus_usable')} CPUs, "
        f"Python {machine.get('python')}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
