"""Wireshark's own MoldUDP64 dissector accepts the pcap files Velocimex writes."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from velocimex.wire import itch
from velocimex.wire.capture import write_capture

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (apt tshark)")

# tshark has no heuristic for MoldUDP64: "decode as" on the feed port (tshark -G protocols
# lists the dissector as "moldudp64").
DECODE_AS = "udp.port==26400,moldudp64"


def _random_message(rng: random.Random, msg_type: str, ts: int) -> bytes:
    fields: dict[str, object] = {}
    for f in itch.SPECS[msg_type].fields:
        if f.kind == "ts":
            fields[f.name] = ts
        elif f.kind == "c":
            fields[f.name] = rng.choice("ABSYN ")
        elif f.kind.startswith("a"):
            fields[f.name] = "".join(
                rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(f.size)
            )
        else:
            fields[f.name] = rng.getrandbits(8 * f.size)
    return itch.encode(msg_type, **fields)


def _tshark(path: Path, *args: str) -> str:
    assert TSHARK is not None
    result = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-d", DECODE_AS, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_tshark_decodes_every_packet_and_message_without_errors(tmp_path: Path) -> None:
    rng = random.Random(7)
    types = sorted(itch.SPECS)
    msgs = [_random_message(rng, types[i % len(types)], 34_200_000_000_000 + 997 * i)
            for i in range(700)]  # fmt: skip
    # Two chunks, as a generator streaming a session would hand them over.
    chunks = [
        b"".join(struct.pack(">H", len(m)) + m for m in part) for part in (msgs[:333], msgs[333:])
    ]
    path = tmp_path / "session.pcap"
    stats = write_capture(path, chunks)
    assert stats.messages == 700

    fields = _tshark(path, "-T", "fields", "-e", "moldudp64.sequence", "-e", "moldudp64.count")
    rows = [tuple(int(v) for v in line.split("\t")) for line in fields.splitlines()]
    assert len(rows) == stats.packets  # every datagram dissected as MoldUDP64
    data_rows = [r for r in rows if r[1] != 0xFFFF]
    assert sum(count for _, count in data_rows) == 700
    assert [seq for seq, _ in data_rows] == [
        1 + sum(c for _, c in data_rows[:k]) for k in range(len(data_rows))
    ]
    assert rows[-1] == (701, 0xFFFF)

    verbose = _tshark(path, "-V", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE")
    assert verbose.count("Message Block") == 700
    assert verbose.count("[Header checksum status: Good]") == stats.packets
    assert verbose.count("[Checksum Status: Good]") == stats.packets
    assert "Malformed" not in verbose
    assert "Expert Info (Error" not in verbose
    assert "Expert Info (Warning" not in verbose
