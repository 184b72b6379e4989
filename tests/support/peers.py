"""A raw websocket peer for frame-level tests.

`RawPeer` speaks frames directly (aiohttp's ``ws_connect``), so a test can send any
bytes and assert the exact bytes that come back.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import WSMsgType

from support.waiting import TIMEOUT

Frame = str | bytes
"""A received data frame: ``str`` for text, ``bytes`` for binary."""


class PeerClosedError(Exception):
    """The raw peer's socket ended while a frame was expected."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code} {reason!r}")
        self.code = code
        self.reason = reason


class RawPeer:
    """A plain websocket client for frame-level tests."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.id = ""
        self._tokens = 0

    async def handshake(self) -> str:
        """Send ``M`` and return the id of the ``A<id>`` answer."""
        await self.ws.send_str("M")
        frame = await self.recv()
        assert isinstance(frame, str), frame
        assert frame.startswith("A"), frame
        self.id = frame[1:]
        return self.id

    async def send(self, frame: Frame) -> None:
        """Send *frame*: text for ``str``, binary for ``bytes``."""
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame)

    async def recv(self, timeout: float = TIMEOUT) -> Frame:
        """Give the next data frame; raise `PeerClosedError` if the socket ends instead."""
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.ws.receive()
                if raw.type is WSMsgType.TEXT or raw.type is WSMsgType.BINARY:
                    data: Frame = raw.data
                    return data
                if raw.type is WSMsgType.CLOSE:
                    raise PeerClosedError(raw.data, str(raw.extra or ""))
                if raw.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    raise PeerClosedError(self.ws.close_code, "")

    async def recv_close(self, timeout: float = TIMEOUT) -> tuple[int | None, str]:
        """Read until the server closes; give its close code and reason. Data frames are skipped."""
        try:
            while True:
                await self.recv(timeout)
        except PeerClosedError as closed:
            return closed.code, closed.reason

    def token(self) -> str:
        """Make a fresh client ask token."""
        self._tokens += 1
        return f"$raw{self._tokens}"

    def token_last(self) -> str:
        """Give the token made last."""
        return f"$raw{self._tokens}"

    async def ask(self, ns: str, event: str, body: str = "", room: str = "") -> Frame:
        """Send a text ask and give the next frame, which must be its answer."""
        tok = self.token()
        await self.send(f"{tok};{ns};{room};{event};0;0;{body}")
        frame = await self.recv()
        head = frame if isinstance(frame, str) else frame.decode(errors="replace")
        assert head.startswith(f"{tok};"), f"expected the answer to {tok}, got {frame!r}"
        return frame

    async def connect(self, ns: str) -> None:
        """Connect namespace *ns* and check the empty reply."""
        tok = self.token()
        await self.send(f"{tok};{ns};;_OnNamespaceConnect;0;0;")
        assert await self.recv() == f"{tok};;;;;;"

    async def join(self, ns: str, room: str) -> None:
        """Join *room* of *ns* and check the empty reply."""
        tok = self.token()
        await self.send(f"{tok};{ns};{room};_OnRoomJoin;0;0;")
        assert await self.recv() == f"{tok};;;;;;"

    async def close(self) -> None:
        """Close the socket."""
        await self.ws.close()
