"""Figures from the measured runs, the JSON summary, the Markdown report and its plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from velocimex.hwsw_bench import wire
from velocimex.hwsw_bench.measure import EngineRun
from velocimex.hwsw_bench.packets import Session

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99_9", 99.9))
NOMINAL_MHZ = 156.25


def distribution(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        raise ValueError("no latency samples")
    pct = np.percentile(values, [p for _, p in PERCENTILES])
    out = {name: float(v) for (name, _), v in zip(PERCENTILES, pct, strict=True)}
    out["max"] = float(np.max(values))
    out["count"] = int(len(values))
    return out


def by_type(values: np.ndarray, types: np.ndarray) -> dict[str, dict[str, float]]:
    return {chr(t): distribution(values[types == t]) for t in sorted(np.unique(types).tolist())}


def summarise(
    session: Session,
    runs: dict[str, EngineRun],
    clocks_mhz: dict[str, float],
) -> dict[str, Any]:
    """Every figure of the report, plain JSON types. `clocks_mhz`: label -> MHz."""
    sw_b, sw_p, sw_m = runs["sw_batch"], runs["sw_packet"], runs["sw_message"]
    hw_b, hw_l = runs["hw_batch"], runs["hw_latency"]
    cycles = hw_l.latency_cycles.astype(np.float64)
    hw_types = hw_l.latency_types
    sample_index = hw_l.sample_index
    packet_of = np.searchsorted(session.packet_first, sample_index, side="right") - 1
    out: dict[str, Any] = {
        "capture": {
            "messages": session.messages,
            "packets": session.packets,
            "records": int(len(sw_b.records)),
            "msgs_per_packet": session.messages / session.packets,
        },
        "software": {
            "batch_msgs_per_second": sw_b.msgs_per_second,
            "per_packet_msgs_per_second": sw_p.msgs_per_second,
            "per_message_msgs_per_second": sw_m.msgs_per_second,
            "per_packet_ns": distribution(sw_p.latency_ns),
            "per_message_ns": distribution(sw_m.latency_ns),
            "per_message_ns_by_type": by_type(sw_m.latency_ns, sw_m.latency_types),
        },
        "hardware": {
            "model_cycles": int(hw_b.extra["cycles"]),
            "model_wall_msgs_per_second": hw_b.msgs_per_second,
            "latency_cycles": distribution(cycles),
            "latency_cycles_by_type": by_type(cycles, hw_types),
            "clocks": {},
        },
        "wire_to_record": {},
    }
    for label, mhz in clocks_mhz.items():
        period = 1000.0 / mhz
        out["hardware"]["clocks"][label] = {
            "mhz": mhz,
            "msgs_per_second": session.messages / (hw_b.extra["cycles"] * period * 1e-9),
            "latency_ns": distribution(cycles * period),
            "latency_ns_by_type": by_type(cycles * period, hw_types),
        }
    loaded = hw_b.latency_cycles.astype(np.float64)
    if len(loaded):
        out["hardware"]["loaded_latency_cycles"] = distribution(loaded)
        out["hardware"]["loaded_latency_cycles_by_type"] = by_type(loaded, hw_b.latency_types)
        for label, mhz in clocks_mhz.items():
            clk = out["hardware"]["clocks"][label]
            clk["loaded_latency_ns"] = distribution(loaded * 1000.0 / mhz)
            clk["loaded_latency_ns_by_type"] = by_type(loaded * 1000.0 / mhz, hw_b.latency_types)
    nominal_ns = cycles * 1000.0 / NOMINAL_MHZ
    for gbps in wire.LINK_RATES_GBPS:
        ser = wire.serialisation_ns(session.packet_payload, gbps)
        out["wire_to_record"][f"{gbps:g}G"] = {
            "serialisation_ns": distribution(ser),
            "hw_nominal_ns": distribution(ser[packet_of] + nominal_ns),
        }
    return out


def _cdf(ax: Any, values: np.ndarray, label: str) -> None:
    v = np.sort(values)
    ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", label=label)


def plot(session: Session, runs: dict[str, EngineRun], s: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    cycles = runs["hw_latency"].latency_cycles.astype(np.float64)
    sample_index = runs["hw_latency"].sample_index
    packet_of = np.searchsorted(session.packet_first, sample_index, side="right") - 1

    fig, ax = plt.subplots(figsize=(8, 5))
    _cdf(ax, runs["sw_message"].latency_ns, "software, per message")
    _cdf(ax, runs["sw_packet"].latency_ns, "software, per packet")
    loaded = runs["hw_batch"].latency_cycles.astype(np.float64)
    for label, clk in s["hardware"]["clocks"].items():
        _cdf(ax, cycles * 1000.0 / clk["mhz"], f"hardware @ {clk['mhz']:.2f} MHz ({label})")
        if len(loaded):
            _cdf(ax, loaded * 1000.0 / clk["mhz"], f"hardware loaded @ {clk['mhz']:.2f} MHz")
    for gbps in wire.LINK_RATES_GBPS:
        ser = wire.serialisation_ns(session.packet_payload, gbps)
        _cdf(ax, ser[packet_of] + cycles * 1000.0 / NOMINAL_MHZ, f"wire-to-record {gbps:g} Gb/s")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ns, log scale)")
    ax.set_ylabel("fraction of messages / packets")
    ax.set_title("Latency CDF: bytes in -> book-update record out")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "latency_cdf.png", dpi=110)
    plt.close(fig)
    files.append("latency_cdf.png")

    bars = {
        "sw batch": s["software"]["batch_msgs_per_second"],
        "sw per packet": s["software"]["per_packet_msgs_per_second"],
        "sw per message": s["software"]["per_message_msgs_per_second"],
    }
    for clk in s["hardware"]["clocks"].values():
        bars[f"hw @ {clk['mhz']:.1f} MHz"] = clk["msgs_per_second"]
    bars["hw model (simulation)"] = s["hardware"]["model_wall_msgs_per_second"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.bar(list(bars), [v / 1e6 for v in bars.values()], color="tab:blue")
    ax.set_ylabel("million messages / s")
    ax.set_title("Throughput on the same capture")
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=110)
    plt.close(fig)
    files.append("throughput.png")

    sw_t = s["software"]["per_message_ns_by_type"]
    nominal = next(iter(s["hardware"]["clocks"].values()))["latency_ns_by_type"]
    types = sorted(sw_t)
    x = np.arange(len(types))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.bar(x - 0.2, [sw_t[t]["p50"] for t in types], 0.4, label="software p50 (per message)")
    ax.bar(
        x + 0.2,
        [nominal[t]["p50"] if t in nominal else 0.0 for t in types],
        0.4,
        label=f"hardware p50 @ {NOMINAL_MHZ} MHz (record-producing messages)",
    )
    ax.set_xticks(x, types)
    ax.set_yscale("log")
    ax.set_xlabel("ITCH message type")
    ax.set_ylabel("ns (log scale)")
    ax.set_title("Per-message-type latency")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "per_type.png", dpi=110)
    plt.close(fig)
    files.append("per_type.png")
    return files


def _row(name: str, d: dict[str, float], unit: str = "ns") -> str:
    cells = " | ".join(f"{d[k]:,.1f}" for k in ("p50", "p90", "p99", "p99_9", "max"))
    return f"| {name} | {cells} | {d['count']:,} | {unit} |"


def markdown(s: dict[str, Any], meta: dict[str, Any], plots: list[str]) -> str:
    cap, sw, hw = s["capture"], s["software"], s["hardware"]
    lines = [
        "# Velocimex hardware vs software bench",
        "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}  ",
        f"Git commit: `{meta['git_commit']}`  ",
        f"Machine: {meta['machine']}  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        "",
        f"Capture: `{meta['capture']}`: {cap['messages']:,} messages in {cap['packets']:,} "
        f"packets ({cap['msgs_per_packet']:.1f} messages/packet), {cap['records']:,} "
        "book-update records.",
        "",
        f"**Identity check: {meta['identity']}** (hardware model batch, hardware model "
        "single-message run, software batch, per packet and per message: every record "
        "stream byte-identical).",
        "",
        "## Throughput",
        "",
        "| engine | messages/s |",
        "|---|---|",
        f"| software batch (whole capture in one call) | {sw['batch_msgs_per_second']:,.0f} |",
        f"| software per packet | {sw['per_packet_msgs_per_second']:,.0f} |",
        f"| software per message | {sw['per_message_msgs_per_second']:,.0f} |",
    ]
    for label, clk in hw["clocks"].items():
        lines.append(
            f"| hardware at {clk['mhz']:.2f} MHz ({label}; {hw['model_cycles']:,} model cycles) "
            f"| {clk['msgs_per_second']:,.0f} |"
        )
    lines += [
        f"| hardware model on this CPU (Verilator simulation speed, not the hardware) "
        f"| {hw['model_wall_msgs_per_second']:,.0f} |",
        "",
        "## Latency: bytes in -> record out",
        "",
        "| what | p50 | p90 | p99 | p99.9 | max | samples | unit |",
        "|---|---|---|---|---|---|---|---|",
        _row("software, per packet (wall clock)", sw["per_packet_ns"]),
        _row("software, per message (wall clock)", sw["per_message_ns"]),
        _row("hardware, cycles (model)", hw["latency_cycles"], "cycles"),
    ]
    for label, clk in hw["clocks"].items():
        lines.append(_row(f"hardware at {clk['mhz']:.2f} MHz ({label})", clk["latency_ns"]))
    if "loaded_latency_cycles" in hw:
        lines.append(
            _row("hardware under load, every record, cycles", hw["loaded_latency_cycles"], "cycles")
        )
        for label, clk in hw["clocks"].items():
            lines.append(
                _row(
                    f"hardware under load at {clk['mhz']:.2f} MHz ({label})",
                    clk["loaded_latency_ns"],
                )
            )
    for rate, w in s["wire_to_record"].items():
        lines.append(_row(f"packet serialisation at {rate}b/s", w["serialisation_ns"]))
        lines.append(
            _row(f"wire-to-record at {rate}b/s (hardware at {NOMINAL_MHZ} MHz)", w["hw_nominal_ns"])
        )
    lines += [
        "",
        "Hardware latency is the cycle of the input beat carrying a message's last byte to the "
        "cycle its record is valid, measured on the Verilated model for record-producing "
        "messages sent alone into an idle pipeline (the book state is the real one: the "
        "session runs in order); 'under load' is every record of the batch run, whose datagrams "
        "follow each other back to back (the harness's --latency stamps, when the model has "
        "them). Wire-to-record adds the serialisation time of the message's "
        "whole packet (preamble, Ethernet/IPv4/UDP headers, FCS, inter-frame gap).",
        "",
        "## Per message type (p50 / p99 ns)",
        "",
        "| type | messages | software per message | hardware records sampled | hardware "
        f"at {NOMINAL_MHZ} MHz |",
        "|---|---|---|---|---|",
    ]
    nominal = hw["clocks"]["nominal"]["latency_ns_by_type"]
    for t, d in sw["per_message_ns_by_type"].items():
        h = nominal.get(t)
        hcell = f"{h['p50']:.1f} / {h['p99']:.1f}" if h else "no record"
        hn = h["count"] if h else 0
        lines.append(
            f"| {t} | {d['count']:,} | {d['p50']:.0f} / {d['p99']:.0f} | {hn:,} | {hcell} |"
        )
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


def write(out: Path, s: dict[str, Any], meta: dict[str, Any], plots: list[str]) -> None:
    (out / "bench.json").write_text(json.dumps({"meta": meta, **s}, indent=1) + "\n")
    (out / "report.md").write_text(markdown(s, meta, plots))
