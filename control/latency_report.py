"""Hardware versus software book-engine latency, read from the latest `velocimex bench`
report (bench.json, velocimex/hwsw_bench/report.py) for the UI's system view."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPORT = REPO_ROOT / "results" / "hwsw_bench" / "bench.json"
QUANTILES = ("p50", "p90", "p99", "p99_9", "max", "count")


def default_report_path() -> Path:
    return Path(os.environ.get("VELOCIMEX_BENCH_REPORT", DEFAULT_REPORT))


def _quantiles(raw: Any) -> dict[str, float] | None:
    if not isinstance(raw, dict) or not all(isinstance(raw.get(k), int | float) for k in QUANTILES):
        return None
    return {k: float(raw[k]) for k in QUANTILES}


def read_report(path: Path) -> dict[str, Any]:
    """The engines' per-message latency quantiles in nanoseconds, or ``available: False``
    with the reason when there is no readable report."""
    out: dict[str, Any] = {"available": False, "source": str(path), "command": "", "date": ""}
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    if not isinstance(report, dict):
        out["error"] = "not a JSON object"
        return out
    meta = report.get("meta") if isinstance(report.get("meta"), dict) else {}
    engines = []
    software = report.get("software") or {}
    sw = _quantiles(software.get("per_message_ns") if isinstance(software, dict) else None)
    if sw:
        engines.append({"name": "sw", "label": "software, one message at a time", "latency_ns": sw})
    hardware = report.get("hardware") or {}
    clocks = hardware.get("clocks") if isinstance(hardware, dict) else None
    for name, clock in (clocks or {}).items():
        if not isinstance(clock, dict):
            continue
        hw = _quantiles(clock.get("latency_ns"))
        if hw:
            mhz = clock.get("mhz")
            label = f"hardware RTL at {mhz} MHz ({name})" if mhz else f"hardware RTL ({name})"
            engines.append({"name": f"hw_{name}", "label": label, "latency_ns": hw})
    if not engines:
        out["error"] = "no per-message latency quantiles in the report"
        return out
    out.update(
        available=True,
        command=str(meta.get("command", "")),
        date=str(meta.get("date", "")),
        engines=engines,
    )
    return out


def live_feed_latency(reading: tuple[str, dict] | None) -> dict[str, Any] | None:
    """The feed handler's own software-path figures (datagram received -> its records
    published, since it started) from its latest bus status, in nanoseconds."""
    if reading is None:
        return None
    endpoint, status = reading
    lat = status.get("latency_us")
    keys = ("p50", "p99", "max", "samples")
    if not isinstance(lat, dict) or not all(isinstance(lat.get(k), int | float) for k in keys):
        return None
    return {
        "source": f"feed {endpoint}",
        "samples": int(lat["samples"]),
        "p50_ns": float(lat["p50"]) * 1e3,
        "p99_ns": float(lat["p99"]) * 1e3,
        "max_ns": float(lat["max"]) * 1e3,
    }
