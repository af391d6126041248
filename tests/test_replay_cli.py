"""`velocimex replay` end to end: every capture format gives the same CSV."""

from __future__ import annotations

import numpy as np
import pytest

from tests.reference_book import ReferenceBook
from tests.streams import Shape, stream
from velocimex import book_contract as bc
from velocimex.cli import main
from velocimex.wire.capture import write_capture


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    data, seqs = stream(seed=21, n=8_000, shape=Shape(locates=5, ticks=6))
    folder = tmp_path_factory.mktemp("replay")
    paths = {}
    for name in ("s.pcap", "s.pcap.gz", "s.itch", "s.itch.gz"):
        paths[name] = folder / name
        write_capture(paths[name], [data])
    return data, seqs, paths


def test_every_capture_format_replays_to_the_reference_csv(session, tmp_path):
    data, seqs, paths = session
    ref = ReferenceBook()
    ref.run(data, seqs)
    for name, path in paths.items():
        out = tmp_path / f"{name}.csv"
        assert main(["replay", str(path), "--engine", "sw", "--out", str(out)]) == 0
        assert out.read_text() == ref.csv(), name


def test_symbols_option_keeps_only_those_instruments(session, tmp_path):
    data, seqs, paths = session
    out = tmp_path / "two.csv"
    assert main(["replay", str(paths["s.pcap"]), "--out", str(out), "--symbols", "T002,T004"]) == 0
    ref = ReferenceBook(symbols=["T002", "T004"])
    ref.run(data, seqs)
    text = out.read_text()
    assert text == ref.csv()
    assert {line.split(",")[3] for line in text.splitlines()[1:]} == {"T002", "T004"}


def test_missing_or_truncated_capture_is_a_clear_error(session, tmp_path, capsys):
    _, _, paths = session
    assert main(["replay", str(tmp_path / "nope.itch"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "nope.itch" in capsys.readouterr().err
    cut = tmp_path / "cut.itch"
    cut.write_bytes(paths["s.itch"].read_bytes()[:-5])
    assert main(["replay", str(cut), "--out", str(tmp_path / "y.csv")]) == 2
    assert "truncated" in capsys.readouterr().err.lower()


def test_csv_header_is_the_contract_header(session, tmp_path):
    _, _, paths = session
    out = tmp_path / "h.csv"
    main(["replay", str(paths["s.itch"]), "--out", str(out)])
    assert out.read_text().splitlines()[0] == bc.CSV_HEADER
    assert np.all([len(line.split(",")) == 8 for line in out.read_text().splitlines()])


def test_hardware_replay_writes_the_same_csv_as_the_software_engine(session, tmp_path):
    _, _, paths = session
    sw, hw = tmp_path / "sw.csv", tmp_path / "hw.csv"
    for engine, out in (("sw", sw), ("hw", hw)):
        assert main(["replay", str(paths["s.pcap"]), "--engine", engine, "--out", str(out)]) == 0
    assert hw.read_bytes() == sw.read_bytes()
    for engine, out in (("sw", sw), ("hw", hw)):
        args = ["replay", str(paths["s.itch.gz"]), "--engine", engine, "--out", str(out)]
        assert main([*args, "--symbols", "T003"]) == 0
    assert hw.read_bytes() == sw.read_bytes()
