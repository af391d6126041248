"""The synthesis flow's own logic: reading yosys' statistics and nextpnr's report, and the
device choice. The tools themselves run in `make synth`, not here (a run takes 10 minutes)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from velocimex import synth


def step(kind: str, delay: float, src: str, dst: str) -> dict:
    return {
        "type": kind,
        "delay": delay,
        "from": {"cell": src, "port": "Q"},
        "to": {"cell": dst, "port": "D"},
    }


REPORT = {
    "critical_paths": [
        {
            "from": "posedge clk",
            "to": "posedge clk",
            "path": [
                step("clk-to-q", 0.3, "f.e_reg_TRELLIS_FF_Q_2", "f.e_reg_TRELLIS_FF_Q_2"),
                step("routing", 1.0, "f.e_reg_TRELLIS_FF_Q_2", "f.start_LUT4_Z"),
                step("logic", 0.2, "f.start_LUT4_Z", "f.start_LUT4_Z"),
                step("routing", 2.0, "f.start_LUT4_Z", "f.state_reg_TRELLIS_FF_Q"),
                step("setup", 0.0, "f.state_reg_TRELLIS_FF_Q", "f.state_reg_TRELLIS_FF_Q"),
            ],
        },
        {"from": "posedge clk", "to": "posedge clk", "path": []},
    ]
}


def test_critical_path_sums_logic_and_routing_and_names_the_cells() -> None:
    got = synth.critical_path(REPORT)
    assert got is not None
    assert got["delay_ns"] == 3.5
    assert got["routing_ns"] == 3.0
    assert got["logic_ns"] == 0.5
    assert got["logic_steps"] == 1
    assert got["from"] == "f.e_reg_TRELLIS_FF_Q_2.Q"
    assert got["to"] == "f.state_reg_TRELLIS_FF_Q.D"
    assert got["through"] == ["f.e_reg", "f.start", "f.state_reg"]


def test_critical_path_of_an_empty_report_is_none() -> None:
    assert synth.critical_path({}) is None
    assert synth.critical_path({"critical_paths": [{"path": []}]}) is None


def test_yosys_stat_reads_the_last_table_only() -> None:
    log = (
        "Printing statistics.\n     5 LUT4\n"
        "Printing statistics.\n"
        "   Number of cells:  9\n"
        "       120   LUT4\n"
        "         3   DP16KD\n"
        "        40   TRELLIS_FF\n"
    )
    assert synth.parse_yosys_stat(log) == {"LUT4": 120, "DP16KD": 3, "TRELLIS_FF": 40}


def test_the_default_part_is_the_ecp5_5g_and_an_unknown_part_is_refused(tmp_path) -> None:
    assert synth.DEFAULT_DEVICE == "um5g-85k"
    assert set(synth.DEVICES) == {"um5g-85k", "85k"}
    with pytest.raises(synth.SynthError, match="unknown device"):
        synth.run(tmp_path, device="45k", reuse_netlist=True)
    with pytest.raises(SystemExit):
        synth.main(["--device", "45k"])


def test_nextpnr_runs_the_chosen_placer_and_the_command_names_a_non_default_one(
    tmp_path, monkeypatch
) -> None:
    (tmp_path / "vx_feed_top.json").write_text("{}")
    (tmp_path / "yosys.log").write_text("Printing statistics\n        12   LUT4\n")
    commands: list[list[str]] = []

    def fake_nextpnr(cmd, **kwargs):  # type: ignore[no-untyped-def]
        commands.append(cmd)
        report = {"fmax": {"clk": {"achieved": 150.0}}, "critical_paths": [], "utilization": {}}
        (Path(kwargs["cwd"]) / "nextpnr_report.json").write_text(json.dumps(report))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(synth.subprocess, "run", fake_nextpnr)
    first = synth.run(tmp_path, reuse_netlist=True)
    second = synth.run(tmp_path, reuse_netlist=True, placer="heap")
    placers = [cmd[cmd.index("--placer") + 1] for cmd in commands]
    assert synth.DEFAULT_PLACER == "static" and placers == ["static", "heap"]
    assert (first["placer"], second["placer"]) == ("static", "heap")
    assert "--placer" not in first["command"] and second["command"].endswith("--placer heap")
    assert first["luts"] == 12 and first["fmax_mhz"] == {"clk": 150.0}
    with pytest.raises(synth.SynthError, match="unknown placer"):
        synth.run(tmp_path, reuse_netlist=True, placer="sa")


def test_reuse_without_a_previous_netlist_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(synth.SynthError, match="no vx_feed_top.json"):
        synth.run(tmp_path, reuse_netlist=True)


def test_the_bench_names_the_part_the_clock_was_synthesised_for(tmp_path) -> None:
    from velocimex.hwsw_bench.command import synth_clock_label, synth_fmax_mhz

    path = tmp_path / "synth.json"
    path.write_text(
        '{"device": "LFE5UM5G-85F, speed grade 8 (nextpnr --um5g-85k, out of context)",'
        ' "fmax_mhz": {"clk": 134.4}}'
    )
    assert synth_clock_label(path) == "synthesised Fmax, LFE5UM5G-85F, speed grade 8"
    assert synth_fmax_mhz(path) == 134.4
    assert synth_clock_label(tmp_path / "missing.json") == "synthesised Fmax"
