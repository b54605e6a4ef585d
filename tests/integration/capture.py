"""A real packet capture on the loopback interface (AF_PACKET, root), reassembled into streams.

The tests use it to see the bytes between a node and its tor: every TCP segment
to or from one port on ``lo`` is recorded with its time, then each direction of
each connection is put back together in sequence order.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ETH_HEADER = 14


@dataclass
class Segment:
    at: float
    seq: int
    payload: bytes


@dataclass
class Stream:
    """One direction of one TCP connection."""

    src_port: int
    dst_port: int
    segments: list[Segment] = field(default_factory=list)

    def chunks(self) -> list[tuple[float, bytes]]:
        """The payload in sequence order, each new byte range with the time it was first seen."""
        out: list[tuple[float, bytes]] = []
        next_seq: int | None = None
        for seg in sorted(self.segments, key=lambda s: (s.seq, s.at)):
            data = seg.payload
            if next_seq is not None:
                skip = next_seq - seg.seq
                if skip >= len(data):
                    continue  # a retransmission
                data = data[max(0, skip) :]
            out.append((seg.at, data))
            next_seq = seg.seq + len(seg.payload)
        return out

    def data(self) -> bytes:
        return b"".join(d for _, d in self.chunks())


class LoopbackCapture:
    """Records TCP segments on ``lo`` whose source or destination port is in ``ports``."""

    def __init__(self, ports: set[int]) -> None:
        self.ports = ports
        self.streams: dict[tuple[int, int], Stream] = {}
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self._sock.bind(("lo", 0))
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LoopbackCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _run(self) -> None:
        seen: defaultdict[tuple[int, int, int], int] = defaultdict(int)
        while not self._stop.is_set():
            ready, _, _ = select.select([self._sock], [], [], 0.2)
            if not ready:
                continue
            frame, addr = self._sock.recvfrom(262144)
            if addr[2] == PACKET_OUTGOING:
                continue  # on lo every packet shows up twice: keep the incoming copy
            self._parse(frame, time.monotonic(), seen)

    def _parse(self, frame: bytes, at: float, seen: defaultdict[tuple[int, int, int], int]) -> None:
        ip = frame[ETH_HEADER:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_TCP:
            return
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        tcp = ip[ihl:total]
        if len(tcp) < 20:
            return
        sport, dport, seq = struct.unpack_from("!HHI", tcp)
        if sport not in self.ports and dport not in self.ports:
            return
        payload = tcp[(tcp[12] >> 4) * 4 :]
        if not payload:
            return
        stream = self.streams.setdefault((sport, dport), Stream(sport, dport))
        stream.segments.append(Segment(at, seq, bytes(payload)))

    def streams_from(self, port: int) -> list[Stream]:
        return [s for s in self.streams.values() if s.src_port == port]

    def streams_to(self, port: int) -> list[Stream]:
        return [s for s in self.streams.values() if s.dst_port == port]


def records(data: bytes) -> list[int]:
    """Sizes of the u32-length-prefixed records in a link stream (prefix included)."""
    sizes = []
    pos = 0
    while pos + 4 <= len(data):
        length = struct.unpack_from("!I", data, pos)[0]
        if pos + 4 + length > len(data):
            break
        sizes.append(4 + length)
        pos += 4 + length
    return sizes


def record_times(stream: Stream) -> list[tuple[float, int]]:
    """(time first seen, size) of each record of a stream."""
    out: list[tuple[float, int]] = []
    buffer = b""
    start_times: list[float] = []
    for at, chunk in stream.chunks():
        if not buffer:
            start_times = [at]
        buffer += chunk
        while len(buffer) >= 4:
            length = struct.unpack_from("!I", buffer)[0]
            if len(buffer) < 4 + length:
                break
            out.append((start_times[0], 4 + length))
            buffer = buffer[4 + length :]
            start_times = [at]
    return out
