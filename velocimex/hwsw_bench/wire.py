"""Time a packet spends on the wire before its last byte reaches the NIC.

A MoldUDP64 datagram in an Ethernet II / IPv4 (no options) / UDP frame: the bytes a link
serialises are the preamble+SFD, the frame (padded to the 64-byte minimum, FCS included)
and the inter-frame gap, which a back-to-back sender must also wait out.
"""

from __future__ import annotations

import numpy as np

PREAMBLE_SFD = 8
ETHERNET_HEADER = 14
IPV4_HEADER = 20
UDP_HEADER = 8
FCS = 4
MIN_FRAME = 64
INTER_FRAME_GAP = 12
LINK_RATES_GBPS = (10.0, 25.0)


def wire_bytes(udp_payload: np.ndarray) -> np.ndarray:
    frame = ETHERNET_HEADER + IPV4_HEADER + UDP_HEADER + udp_payload.astype(np.int64) + FCS
    return PREAMBLE_SFD + np.maximum(frame, MIN_FRAME) + INTER_FRAME_GAP


def serialisation_ns(udp_payload: np.ndarray, gbps: float) -> np.ndarray:
    """Nanoseconds to clock a datagram's frame onto a link of `gbps` gigabits per second."""
    return wire_bytes(udp_payload) * 8.0 / gbps
