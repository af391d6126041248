"""The journal's durability modes: per-record fsync, group commit on a dedicated thread, none."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from velocimex.control.journal import Journal, canonical_json


def test_group_commit_append_returns_before_fsync_and_sync_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real_fsync = os.fsync
    calls: list[int] = []

    def slow_fsync(fd: int) -> None:
        calls.append(fd)
        release.wait(10)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    journal = Journal(tmp_path / "j.jsonl", group_commit=True)
    for i in range(50):
        journal.append({"i": i})  # must not block on the stuck fsync
    assert journal.unsynced > 0
    # Written to the OS already: another reader sees every record.
    assert [r["i"] for r in Journal(tmp_path / "j.jsonl", fsync=False).records()] == list(range(50))
    assert not journal.sync(timeout=0.05)
    release.set()
    assert journal.sync(timeout=10)
    assert journal.unsynced == 0
    # One fsync covers a batch: far fewer fsyncs than records.
    assert 1 <= journal.fsyncs < 50
    journal.close()


_CRASHING_WRITER = """
import os, sys, threading
from velocimex.control.journal import Journal
os.fsync = lambda fd: threading.Event().wait()  # the disk never answers
journal = Journal(sys.argv[1], group_commit=True)
for i in range(int(sys.argv[2])):
    journal.append({"type": "event", "i": i})
print(journal.unsynced, flush=True)
os._exit(9)  # killed: no close, no fsync ever completed
"""


def test_process_crash_after_write_before_fsync_replays_everything_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", _CRASHING_WRITER, str(path), "300"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 9, done.stderr
    assert int(done.stdout) == 300  # none of them was fsync'd
    assert [r["i"] for r in Journal(path).records()] == list(range(300))


def test_failed_group_fsync_is_raised_to_the_next_append_and_to_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    journal = Journal(tmp_path / "j.jsonl", group_commit=True)
    journal.append({"i": 0})
    with pytest.raises(OSError):
        journal.sync(timeout=10)
    with pytest.raises(OSError):
        journal.append({"i": 1})
    journal.close()


def test_concurrent_appends_under_group_commit_keep_every_line_whole(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl", group_commit=True)

    def writer(k: int) -> None:
        for i in range(200):
            journal.append({"writer": k, "i": i, "pad": "x" * (i % 37)})

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert journal.sync(timeout=30)
    journal.close()
    seen = [(r["writer"], r["i"]) for r in Journal(tmp_path / "j.jsonl").records()]
    assert sorted(seen) == [(k, i) for k in range(4) for i in range(200)]
    for k in range(4):  # each writer's records stay in its own order
        assert [i for w, i in seen if w == k] == list(range(200))


def test_close_waits_for_the_last_group_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync
    synced: list[float] = []

    def slow_fsync(fd: int) -> None:
        time.sleep(0.05)
        real_fsync(fd)
        synced.append(time.monotonic())

    monkeypatch.setattr(os, "fsync", slow_fsync)
    journal = Journal(tmp_path / "j.jsonl", group_commit=True)
    journal.append({"i": 1})
    journal.close()
    assert synced and journal.unsynced == 0


def test_append_canonical_writes_the_same_line_as_append(tmp_path: Path) -> None:
    body = {"b": [1, "é", None], "a": {"y": True, "x": 'q"uote'}, "n": -3}
    Journal(tmp_path / "a.jsonl", fsync=False).append(body)
    Journal(tmp_path / "b.jsonl", fsync=False).append_canonical(canonical_json(body))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_settings_select_group_commit_for_the_core_journals(tmp_path: Path) -> None:
    from pydantic import SecretStr
    from velocimex.control.app import build_core
    from velocimex.control.settings import InstrumentSetting, Settings

    base = {"data_dir": tmp_path, "jwt_secret": SecretStr("x" * 32)}
    instruments = [InstrumentSetting(symbol="AAPL", locate=7)]
    grouped = build_core(Settings(**base, instruments=instruments))  # the default
    assert grouped.journal.group_commit and grouped.audit.group_commit
    grouped.close()
    strict = build_core(Settings(**base, instruments=instruments, journal_group_commit=False))
    assert not strict.journal.group_commit and not strict.audit.group_commit
    strict.close()


def test_group_commit_wake_false_defers_the_fsync_round_to_wake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The order path appends its record without waking the flusher and wakes it once the
    # order has left: until then no fsync may start, and wake() starts one that covers it.
    real_fsync = os.fsync
    started = threading.Event()

    def watched_fsync(fd: int) -> None:
        started.set()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", watched_fsync)
    journal = Journal(tmp_path / "j.jsonl", group_commit=True)
    deadline = time.monotonic() + 5
    while not journal._idle:  # the flusher is parked waiting for work
        assert time.monotonic() < deadline
        time.sleep(0.001)
    journal.append({"i": 1}, wake=False)
    assert not started.wait(0.2)
    assert journal.unsynced == 1
    journal.wake()
    assert started.wait(5)
    assert journal.sync(timeout=5) and journal.unsynced == 0
    # A plain append wakes a parked flusher by itself.
    started.clear()
    while not journal._idle:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    journal.append({"i": 2})
    assert started.wait(5)
    journal.close()
    assert [r["i"] for r in Journal(tmp_path / "j.jsonl", fsync=False).records()] == [1, 2]


def test_sync_cuts_the_batch_gathering_wait_short(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl", group_commit=True, commit_interval_s=30.0)
    journal.append({"i": 1})
    assert journal.sync(timeout=5)  # first round: the flusher then gathers for 30 s
    journal.append({"i": 2})
    started = time.monotonic()
    assert journal.sync(timeout=5) and journal.unsynced == 0
    assert time.monotonic() - started < 5
    started = time.monotonic()
    journal.close()
    assert time.monotonic() - started < 5


def test_serve_group_commits_by_default_and_fsyncs_per_record_on_request() -> None:
    from velocimex.cli import build_parser

    assert build_parser().parse_args(["serve"]).journal_group_commit is True
    strict = build_parser().parse_args(["serve", "--journal-fsync-per-record"])
    assert strict.journal_group_commit is False
