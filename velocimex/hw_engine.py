"""The hardware engine: vx_feed_top compiled by Verilator into a C++ model (hw/model/).

`HwBookEngine` has the software `BookEngine`'s interface (`process(data, seqs)` returning
RECORD_DTYPE records, `counters()`), so either engine can sit behind the replay command and
the differential tests. The model is built on first use per capacity into a cache folder and
runs as a child process that keeps its book between calls; Python hands it whole chunks,
never single messages or cycles.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
import subprocess
from pathlib import Path

import numpy as np

from velocimex import book_contract as bc
from velocimex import hwtools
from velocimex.wire import blocks

MODEL_DIR = hwtools.REPO_ROOT / "hw" / "model"
HARNESS = MODEL_DIR / "vx_model_main.cpp"
CACHE_ENV = "VELOCIMEX_HW_MODEL_CACHE"
DEFAULT_CACHE = MODEL_DIR / "obj_dir"
EXECUTABLE = "vx_model"

CMD_PROCESS = 1
CMD_COUNTERS = 2
CMD_QUIT = 3
CMD_LATENCIES = 4
# Framer statistics after the book counters, in the register block's order (docs/hardware.md).
FRAMER_STAT_NAMES: tuple[str, ...] = (
    "packets",
    "heartbeats",
    "end_of_session",
    "wrong_session",
    "truncated",
    "count_mismatch",
    "zero_length",
    "messages",
)
# HW-only book core statistics in the FRAMER_STAT slots after the framer's (docs/hardware.md):
# cycles a queued message was not issued, and cycles the core held a waiting input beat
# (back-pressure into the framer) outside its clear sweep. Not in COUNTER_NAMES: the
# software engine has neither.
BOOK_STAT_NAMES: tuple[str, ...] = ("issue_stalls", "input_stalls")
_U64 = struct.Struct("<Q")


class HwEngineError(RuntimeError):
    """The model could not be built, or it stopped answering."""


class HwInputError(ValueError):
    """Input the engine cannot frame (same cases as the software engine's input error)."""


def _cache_key(capacity: bc.Capacity) -> str:
    digest = hashlib.sha256()
    for path in [*hwtools.feed_top_sources(), hwtools.RTL_DIR / "vx_params.vh", HARNESS]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(repr(sorted(capacity.as_dict().items())).encode())
    digest.update(str(hwtools.verilator_root()).encode())
    return digest.hexdigest()[:16]


def build_model(capacity: bc.Capacity = bc.DEFAULT_CAPACITY, verbose: bool = False) -> Path:
    """Path of the model executable for `capacity`, compiling it if the cache lacks it.

    Concurrent callers wait on a lock file instead of compiling the same model twice.
    """
    cache = Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE))
    build_dir = cache / _cache_key(capacity)
    exe = build_dir / EXECUTABLE
    if exe.exists():
        return exe
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if exe.exists():
            return exe
        env = {**os.environ, **hwtools.verilator_env()}
        params = {
            "LOCATE_BITS": capacity.locate_bits,
            "LEVELS": capacity.levels,
            "ORDER_SET_BITS": capacity.order_set_bits,
            "ORDER_WAYS": capacity.order_ways,
            "SUB_SYMBOLS": capacity.sub_symbols,
        }
        cmd = [
            "verilator",
            "--cc",
            "--exe",
            "--build",
            "-O3",
            "--x-assign",
            "fast",
            "--x-initial",
            "fast",
            "-Wno-fatal",
            "-Wno-lint",
            "-Wno-style",
            "--top-module",
            "vx_feed_top",
            f"-I{hwtools.RTL_DIR}",
            "-Mdir",
            str(build_dir),
            "-o",
            EXECUTABLE,
            "-CFLAGS",
            "-O2",
            "-j",
            "2",
            *[f"-G{k}={v}" for k, v in params.items()],
            *[str(p) for p in hwtools.feed_top_sources()],
            str(HARNESS),
        ]
        proc = subprocess.run(cmd, env=env, capture_output=not verbose, text=True)
        if proc.returncode != 0 or not exe.exists():
            tail = "" if verbose else (proc.stderr or proc.stdout)[-4000:]
            raise HwEngineError(f"building the hardware model failed:\n{tail}")
    return exe


class HwBookEngine:
    """The RTL book engine (Verilator model) behind the software engine's interface."""

    def __init__(
        self,
        capacity: bc.Capacity = bc.DEFAULT_CAPACITY,
        symbols: list[str] | None = None,
        latency: bool = False,
    ) -> None:
        """`latency`: stamp each record with its cycle latency (record_latencies)."""
        self.capacity = capacity
        self.symbols = list(symbols or [])
        self.latency = latency
        if len(self.symbols) > capacity.sub_symbols:
            raise ValueError(
                f"{len(self.symbols)} symbols exceed the {capacity.sub_symbols}-entry "
                "subscription table of this capacity"
            )
        for sym in self.symbols:
            if not sym or len(sym) > 8 or "," in sym or not sym.isascii():
                raise ValueError(f"symbol {sym!r} is not 1-8 ASCII characters")
        exe = build_model(capacity)
        args = [str(exe)]
        if self.symbols:
            args += ["--symbols", ",".join(self.symbols)]
        if latency:
            args.append("--latency")
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.cycles = 0

    def _read(self, n: int) -> bytes:
        assert self._proc.stdout is not None
        buf = self._proc.stdout.read(n)
        if buf is None or len(buf) != n:
            code = self._proc.poll()
            raise HwEngineError(f"hardware model stopped answering (exit status {code})")
        return buf

    def _send(self, *parts: bytes) -> None:
        assert self._proc.stdin is not None
        try:
            for part in parts:
                self._proc.stdin.write(part)
            self._proc.stdin.flush()
        except BrokenPipeError as exc:
            raise HwEngineError(f"hardware model exited (status {self._proc.poll()})") from exc

    def process(self, data: bytes | np.ndarray, seqs: np.ndarray) -> np.ndarray:
        """Apply message blocks (with one sequence number each); returns their records."""
        buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
        seqs = np.ascontiguousarray(seqs, dtype="<u8")
        offsets, end, stopped = blocks.block_offsets(buf)
        if stopped or end != len(buf):
            raise HwInputError(
                f"message block at byte {end} of a {len(buf)}-byte buffer is "
                + ("empty (zero length)" if stopped else "truncated")
            )
        if len(offsets) != len(seqs):
            raise HwInputError(f"{len(offsets)} message blocks but {len(seqs)} sequence numbers")
        self._send(
            _U64.pack(CMD_PROCESS),
            _U64.pack(len(buf)),
            _U64.pack(len(seqs)),
            buf.tobytes(),
            seqs.tobytes(),
        )
        (n_rec,) = _U64.unpack(self._read(8))
        raw = self._read(n_rec * bc.RECORD_BYTES)
        return np.frombuffer(raw, dtype=bc.RECORD_DTYPE).copy()

    def record_latencies(self) -> np.ndarray:
        """Cycles from the input beat carrying each record's message's last byte to the cycle
        the record was valid, for the records of the last `process` call (uint64); empty
        unless the engine was opened with `latency=True`."""
        self._send(_U64.pack(CMD_LATENCIES))
        (n,) = _U64.unpack(self._read(8))
        return np.frombuffer(self._read(8 * n), dtype="<u8").copy()

    def _values(self) -> list[int]:
        self._send(_U64.pack(CMD_COUNTERS))
        (n,) = _U64.unpack(self._read(8))
        return list(np.frombuffer(self._read(8 * n), dtype="<u8").tolist())

    def counters(self) -> dict[str, int]:
        """The book counters (COUNTER_NAMES), read over the model's AXI-Lite port."""
        values = self._values()
        return dict(zip(bc.COUNTER_NAMES, values[: bc.NUM_COUNTERS], strict=True))

    def framer_stats(self) -> dict[str, int]:
        """Framer statistics, the book core's stall statistics, records out and simulated
        cycles."""
        values = self._values()[bc.NUM_COUNTERS :]
        names = [*FRAMER_STAT_NAMES, *BOOK_STAT_NAMES, "records_out", "cycles"]
        return dict(zip(names, values, strict=True))

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._send(_U64.pack(CMD_QUIT))
            except HwEngineError:
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> HwBookEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def run_hw_replay(
    path: str | os.PathLike[str],
    out_records_path: str | os.PathLike[str],
    capacity: bc.Capacity = bc.DEFAULT_CAPACITY,
    symbols: list[str] | None = None,
) -> dict[str, int]:
    """Replay a capture (pcap or BinaryFILE, plain or gzipped) through the hardware model;
    writes the records (40 bytes each, RECORD_DTYPE) to `out_records_path` and returns the
    counters."""
    from velocimex.wire.capture import CaptureReader

    with HwBookEngine(capacity, symbols) as engine, open(out_records_path, "wb") as out:
        for chunk in CaptureReader(path):
            out.write(engine.process(chunk.data, chunk.seqs).tobytes())
        return engine.counters()


def bench(messages: int, symbols: int, seed: int, capacity: bc.Capacity) -> dict[str, float]:
    """Time a generated session through the model (built beforehand, not timed) and check
    it against the software engine."""
    import time

    from velocimex.generate import generate_session
    from velocimex.sw_fallback.engine import BookEngine

    data = b"".join(generate_session(symbols, messages, seed))
    n = len(blocks.block_offsets(blocks.as_u8(data))[0])
    seqs = np.arange(1, n + 1, dtype=np.uint64)
    build_model(capacity)
    t0 = time.perf_counter()
    with HwBookEngine(capacity) as engine:
        t1 = time.perf_counter()
        records = engine.process(data, seqs)
        t2 = time.perf_counter()
        stats = engine.framer_stats()
    want = BookEngine(capacity).process(data, seqs)
    return {
        "messages": n,
        "records": len(records),
        "identical_to_software": records.tobytes() == want.tobytes(),
        "model_start_seconds": round(t1 - t0, 3),
        "process_seconds": round(t2 - t1, 3),
        "messages_per_second": round(n / (t2 - t1)),
        "cycles": stats["cycles"],
        "capacity": capacity.as_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="python -m velocimex.hw_engine",
        description="Time a generated session through the Verilator model of vx_feed_top.",
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    result = bench(args.messages, args.symbols, args.seed, bc.DEFAULT_CAPACITY)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if result["identical_to_software"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
