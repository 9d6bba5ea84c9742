"""A minimal WebSocket client for thousands of connections in one process.

A full client library spends tens of microseconds per message; with 5,000 connections in
the same process that would show up in the very latency being measured. This one does the
handshake, answers pings, and timestamps each text frame the moment it is read, leaving
the JSON to be looked at later.
"""

import asyncio
import base64
import os
import time
from collections.abc import Callable

Handler = Callable[["Client", bytes, float], None]


class Client(asyncio.Protocol):
    def __init__(self, path: str, headers: dict[str, str], on_text: Handler) -> None:
        self.path, self.headers, self.on_text = path, headers, on_text
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.upgraded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.closed: int | None = None  # the close code, once the server closed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.path} HTTP/1.1",
            "Host: 127.0.0.1",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in self.headers.items()),
        ]
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        # The usual case, one whole text frame and nothing pending: no buffering.
        if not self.buffer and len(data) >= 4 and data[0] == 0x81:
            if data[1] < 126 and len(data) == 2 + data[1]:
                self.on_text(self, data[2:], now)
                return
            if data[1] == 126 and len(data) == 4 + int.from_bytes(data[2:4], "big"):
                self.on_text(self, data[4:], now)
                return
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            ok = self.buffer[:12] in (b"HTTP/1.1 101", b"HTTP/1.0 101")
            del self.buffer[: end + 4]
            self.upgraded.set_result(ok)
            if not ok:
                self.transport.close()
                return
        self._frames(now)

    def _frames(self, now: float) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode, length, offset = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, offset = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, offset = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset : offset + length])
            del buffer[: offset + length]
            if opcode == 0x1:
                self.on_text(self, payload, now)
            elif opcode == 0x9:
                self._send(0xA, payload)  # pong, or the server drops us after its ping timeout
            elif opcode == 0x8:
                self.closed = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_result(False)
        if self.closed is None:
            self.closed = 1006

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(port: int, path: str, headers: dict[str, str], on_text: Handler) -> Client | None:
    """An upgraded connection, or None if the server refused it."""
    loop = asyncio.get_running_loop()
    try:
        _, client = await loop.create_connection(lambda: Client(path, headers, on_text), "127.0.0.1", port)
    except OSError:
        return None
    ok = await asyncio.wait_for(client.upgraded, timeout=60)
    return client if ok else None
