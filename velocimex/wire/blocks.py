"""Length-prefixed message blocks (uint16 BE length + message), the framing MoldUDP64 packets
and NASDAQ BinaryFILE share.

The walkers are numba-compiled because captures hold hundreds of millions of messages and the
engines after them run at tens of millions per second: a Python loop per message would be the
bottleneck of the whole pipeline. Python code calls them once per buffer, never per message.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic

BLOCK_PREFIX = 2
MAX_BLOCK_MESSAGE = 0xFFFF


@intrinsic
def copy_bytes(typingctx, dst, dst_offset, src, src_offset, count):  # type: ignore[no-untyped-def]
    """``dst[dst_offset : dst_offset + count] = src[src_offset : src_offset + count]`` as one
    memcpy, for numba code. Numba's slice assignment copies byte by byte (it cannot rule out
    aliasing), which made copying packet bodies the slowest step of capture replay. Bounds
    are the caller's responsibility."""
    sig = types.void(dst, types.intp, src, types.intp, types.intp)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        d, d_off, s, s_off, n = args
        d_arr = context.make_array(signature.args[0])(context, builder, d)
        s_arr = context.make_array(signature.args[2])(context, builder, s)
        cgutils.raw_memcpy(
            builder, builder.gep(d_arr.data, [d_off]), builder.gep(s_arr.data, [s_off]), n, 1
        )
        return context.get_dummy_value()

    return sig, codegen


def as_u8(data: bytes | bytearray | memoryview) -> np.ndarray:
    """Zero-copy uint8 view of a buffer, the argument type the walkers take."""
    return np.frombuffer(data, dtype=np.uint8)


@numba.njit(cache=True, nogil=True)
def scan_blocks(buf: np.ndarray, start: int) -> tuple[int, int, bool]:
    """Walk whole blocks from ``start``.

    Returns ``(end, count, stopped)``: ``end`` is the offset just past the last complete
    block, ``count`` the number of complete blocks, and ``stopped`` whether the walk ended on
    a zero length prefix (BinaryFILE's end-of-data mark; ``end`` is then that prefix's offset).
    A partial block at the tail is left for the caller (it is either carried to the next read
    or an error).
    """
    n = buf.size
    i = start
    count = 0
    while i + 2 <= n:
        length = (np.int64(buf[i]) << 8) | np.int64(buf[i + 1])
        if length == 0:
            return i, count, True
        if i + 2 + length > n:
            break
        i += 2 + length
        count += 1
    return i, count, False


@numba.njit(cache=True, nogil=True)
def block_offsets(buf: np.ndarray) -> tuple[np.ndarray, int, bool]:
    """Start offset of every complete block in ``buf``, plus ``(end, stopped)`` as in
    :func:`scan_blocks`."""
    n = buf.size
    offsets = np.empty(n // 3 + 1, dtype=np.int64)  # a block is at least 3 bytes
    i = 0
    count = 0
    stopped = False
    while i + 2 <= n:
        length = (np.int64(buf[i]) << 8) | np.int64(buf[i + 1])
        if length == 0:
            stopped = True
            break
        if i + 2 + length > n:
            break
        offsets[count] = i
        count += 1
        i += 2 + length
    return offsets[:count], i, stopped


@numba.njit(cache=True, nogil=True)
def pack_blocks(
    offsets: np.ndarray, end: int, budget: int, max_count: int
) -> tuple[np.ndarray, int]:
    """Greedy packing of consecutive blocks into groups of at most ``budget`` bytes and
    ``max_count`` blocks (MoldUDP64 packets).

    Returns ``(bounds, too_big)``: group ``k`` holds blocks ``bounds[k]:bounds[k + 1]``;
    ``too_big`` is the index of a block that cannot fit even alone, else -1.
    """
    n = offsets.size
    bounds = np.empty(n + 1, dtype=np.int64)
    groups = 0
    i = 0
    while i < n:
        bounds[groups] = i
        groups += 1
        base = offsets[i]
        j = i
        while j < n and j - i < max_count:
            nxt = offsets[j + 1] if j + 1 < n else end
            if nxt - base > budget:
                break
            j += 1
        if j == i:
            return bounds[:0], i
        i = j
    bounds[groups] = n
    return bounds[: groups + 1], -1
