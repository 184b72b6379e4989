"""Drive the real published ``neffos.js`` client under Node from async Python tests.

``tests/compat/driver.mjs`` loads ``neffos.js`` from ``node_modules`` and obeys
newline-delimited JSON commands on stdin; this module spawns it and wraps the
protocol in typed coroutines. Every wait has a timeout, and every failure
message ends with the tail of the driver's stderr.

Typical use::

    require_node()  # skip (or fail when CI=true) without node / node_modules
    async with NodeDriver.start() as drv:
        c = await drv.dial(url, {"default": {"chat": RECORD, "echo": reply("x")}})
        await c.connect("default")
        answer = await c.ask("default", "echo", "hi")
        msg = await c.wait_for("chat", ns="default")
"""

# Every wait in this harness owns its timeout so that it can fail with the driver's stderr.

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import attrs
import pytest

__all__ = [
    "RECORD",
    "REPO_ROOT",
    "Behaviour",
    "ClientNamespaces",
    "CommandError",
    "ConnState",
    "DriverError",
    "DriverEvent",
    "DriverTimeoutError",
    "LeaveResult",
    "NeffosMessage",
    "NodeConn",
    "NodeDriver",
    "error",
    "node_available",
    "node_unavailable_reason",
    "raw_value",
    "reply",
    "reply_binary",
    "require_node",
    "throw",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
DRIVER_PATH = Path(__file__).resolve().with_name("driver.mjs")
NEFFOS_JS_VERSION = "0.1.34"
MIN_NODE_MAJOR = 18  # global fetch() (used by neffos.js reconnect) and stable ESM

DEFAULT_TIMEOUT = 5.0
STARTUP_TIMEOUT = 20.0
STDERR_TAIL_LINES = 40

# ----------------------------------------------------------------- behaviours

Behaviour: TypeAlias = str | dict[str, Any]
"""What a declared client handler does: ``RECORD`` or one of the helper results below."""

ClientNamespaces: TypeAlias = Mapping[str, Mapping[str, Behaviour]]
"""The handlers a dial declares: namespace -> event -> behaviour."""

RECORD = "record"
"""Report the call and return nothing (``null``) from the handler."""


def reply(text: str) -> dict[str, Any]:
    """Handler returns ``neffos.reply(text)`` (answers a server ask; empty text sends nothing)."""
    return {"reply": text}


def error(text: str) -> dict[str, Any]:
    """Handler returns ``new Error(text)`` (written back to the server with isError=1)."""
    return {"error": text}


def reply_binary(data: bytes) -> dict[str, Any]:
    """Handler answers by hand with a binary frame carrying the incoming wait token."""
    return {"replyBinary": list(data)}


def throw(text: str) -> dict[str, Any]:
    """Handler throws ``new Error(text)`` (reported as an ``uncaughtException`` event)."""
    return {"throw": text}


def raw_value(value: Any) -> dict[str, Any]:
    """Handler returns ``value`` as-is (a non-Error truthy value is a neffos.js quirk, §2.3)."""
    return {"returnValue": value}


# ----------------------------------------------------------------- errors


class DriverError(RuntimeError):
    """The harness itself failed: driver crashed, protocol broke, or a wait timed out."""


class DriverTimeoutError(DriverError, TimeoutError):
    """A command answer or an awaited event did not arrive in time."""


class CommandError(Exception):
    """A driver command failed; usually a neffos.js promise rejected.

    ``error_type`` tells what was rejected: ``"Error"`` (``message`` is its text),
    ``"string"``, ``"undefined"`` (e.g. an isError reply with empty text),
    ``"ErrorEvent"`` (socket failure during dial) or ``"driver"`` (bad command).
    """

    def __init__(self, command: str, message: str, error_type: str) -> None:
        super().__init__(f"{command} failed: {message!r} ({error_type})")
        self.command = command
        self.message = message
        self.error_type = error_type


# ----------------------------------------------------------------- data


def _body(value: Any) -> str | bytes | None:
    if isinstance(value, list):
        return bytes(value)
    if value is None or isinstance(value, str):
        return value
    raise DriverError(f"unexpected body encoding from driver: {value!r}")


@attrs.frozen
class NeffosMessage:
    """A neffos.js ``Message`` as a handler saw it, or an ask's resolved reply."""

    namespace: str | None
    room: str | None
    event: str | None
    body: str | bytes | None
    """Text, or ``bytes`` when the body was an ArrayBuffer (binary frame)."""
    binary: bool
    err: str | None
    is_error: bool
    is_forced: bool
    is_local: bool
    is_native: bool
    set_binary: bool
    is_noop: bool
    wait: str | None
    conn: str | None = None
    """Driver handle ("c1"...) of the connection whose handler ran; None for ask replies."""
    conn_id: str | None = None
    handler: str | None = None
    """The handler key that ran (differs from ``event`` when ``_OnAnyEvent`` caught it)."""

    @classmethod
    def from_wire(
        cls,
        m: Mapping[str, Any],
        *,
        conn: str | None = None,
        conn_id: str | None = None,
        handler: str | None = None,
    ) -> NeffosMessage:
        return cls(
            namespace=m["Namespace"],
            room=m["Room"],
            event=m["Event"],
            body=_body(m["body"]),
            binary=bool(m["binary"]),
            err=m["Err"],
            is_error=bool(m["isError"]),
            is_forced=bool(m["IsForced"]),
            is_local=bool(m["IsLocal"]),
            is_native=bool(m["IsNative"]),
            set_binary=bool(m["SetBinary"]),
            is_noop=bool(m["isNoOp"]),
            wait=m["wait"],
            conn=conn,
            conn_id=conn_id,
            handler=handler,
        )

    @property
    def text(self) -> str:
        """The body as text (UTF-8 decoded when binary, "" when absent)."""
        if isinstance(self.body, bytes):
            return self.body.decode()
        return self.body or ""


@attrs.frozen
class DriverEvent:
    """One asynchronous line from the driver.

    ``kind`` is one of ``message`` (a handler ran; see ``message``), ``reconnected``,
    ``closed``, ``socketError``, ``frame`` (with ``trace=True``), ``uncaughtException``,
    ``unhandledRejection``. ``data`` holds the raw fields.
    """

    kind: str
    seq: int
    conn: str | None
    data: Mapping[str, Any]
    message: NeffosMessage | None = None

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> DriverEvent:
        kind = str(raw["event"])
        message = None
        if kind == "message":
            message = NeffosMessage.from_wire(
                raw["msg"],
                conn=raw.get("conn"),
                conn_id=raw.get("connId"),
                handler=raw.get("handler"),
            )
        return cls(kind=kind, seq=int(raw.get("seq", 0)), conn=raw.get("conn"), data=raw, message=message)

    def __str__(self) -> str:
        if self.message is not None:
            m = self.message
            return (
                f"#{self.seq} {self.conn} {m.handler}: ns={m.namespace!r} room={m.room!r} "
                f"event={m.event!r} body={m.body!r} err={m.err!r} "
                f"local={m.is_local} forced={m.is_forced}"
            )
        extra = {k: v for k, v in self.data.items() if k not in ("event", "seq", "conn")}
        return f"#{self.seq} {self.conn} {self.kind}: {extra}"


@attrs.frozen
class ConnState:
    """Snapshot of a connection's neffos.js state (of the *latest* Conn after reconnects)."""

    id: str | None
    is_closed: bool
    is_acknowledged: bool
    reconnect_tries: int
    was_reconnected: bool
    namespaces: dict[str, list[str]]
    """Connected namespace -> joined rooms."""
    waiting_messages: int
    """Size of ``conn.waitingMessages``. neffos.js never deletes answered entries (only
    ``close()`` clears them), so this counts every ask made, answered or not."""


@attrs.frozen
class LeaveResult:
    """What ``Room.leave()`` / ``NSConn.disconnect()`` / ``leaveAll()`` resolved to."""

    error: str | None
    """The resolved Error's text, or None when it resolved to null/undefined."""
    resolved_to: str
    """``"null"``, ``"undefined"`` or ``"Error"``."""

    @classmethod
    def from_wire(cls, result: Mapping[str, Any]) -> LeaveResult:
        """Build from the driver's ``{error, resolvedTo}`` answer."""
        return cls(error=result["error"], resolved_to=str(result["resolvedTo"]))


EventPredicate: TypeAlias = Callable[[DriverEvent], bool]
_T = TypeVar("_T")

# ----------------------------------------------------------------- availability


def node_unavailable_reason(repo_root: Path = REPO_ROOT) -> str | None:
    """Why the Node driver cannot run here, or None when it can."""
    node = shutil.which("node")
    if node is None:
        return "`node` is not on PATH"
    pkg = repo_root / "node_modules" / "neffos.js" / "package.json"
    if not pkg.is_file():
        return f"{pkg} is missing; run `npm ci` in {repo_root}"
    version = json.loads(pkg.read_text()).get("version")
    if version != NEFFOS_JS_VERSION:
        return f"node_modules has neffos.js {version}, expected {NEFFOS_JS_VERSION}; run `npm ci`"
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`node --version` failed: {exc}"
    match = re.match(r"v(\d+)\.", out.strip())
    if match is None or int(match.group(1)) < MIN_NODE_MAJOR:
        return f"node {out.strip()} is too old; need >= {MIN_NODE_MAJOR}"
    return None


def node_available(repo_root: Path = REPO_ROOT) -> bool:
    """True when node and the pinned neffos.js install are usable."""
    return node_unavailable_reason(repo_root) is None


def require_node(repo_root: Path = REPO_ROOT) -> None:
    """Skip the calling test when the driver cannot run; with ``CI=true`` fail instead."""
    reason = node_unavailable_reason(repo_root)
    if reason is None:
        return
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"neffos.js compat tests cannot run on CI: {reason}", pytrace=False)
    pytest.skip(f"neffos.js compat tests skipped: {reason}")


# ----------------------------------------------------------------- driver


@attrs.define(eq=False)
class _Waiter:
    predicate: EventPredicate
    future: asyncio.Future[DriverEvent]


@attrs.define
class _Mailbox:
    """Events not yet taken by a waiter, plus the full history."""

    history: list[DriverEvent] = attrs.Factory(list)
    pending: list[DriverEvent] = attrs.Factory(list)
    waiters: list[_Waiter] = attrs.Factory(list)

    def put(self, event: DriverEvent) -> None:
        self.history.append(event)
        for waiter in self.waiters:
            if not waiter.future.done() and waiter.predicate(event):
                waiter.future.set_result(event)
                self.waiters.remove(waiter)
                return
        self.pending.append(event)

    def take(self, predicate: EventPredicate) -> DriverEvent | None:
        for i, event in enumerate(self.pending):
            if predicate(event):
                return self.pending.pop(i)
        return None


class NodeDriver:
    """One ``node driver.mjs`` process; can hold several dialled connections."""

    def __init__(self, process: asyncio.subprocess.Process, *, default_timeout: float) -> None:
        self._proc = process
        self.default_timeout = default_timeout
        self._next_id = 0
        self._pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._mailbox = _Mailbox()
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._ready: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        self._dead: DriverError | None = None
        self._readers = [
            asyncio.create_task(self._read_stdout(), name="neffos-driver-stdout"),
            asyncio.create_task(self._read_stderr(), name="neffos-driver-stderr"),
        ]
        self.info: Mapping[str, Any] = {}
        """The driver's ``ready`` line: neffosVersion, neffosPath, wsVersion, node."""

    # -- lifecycle

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        *,
        cwd: Path = REPO_ROOT,
        node: str = "node",
        default_timeout: float = DEFAULT_TIMEOUT,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> AsyncIterator[NodeDriver]:
        """Spawn the driver, wait until neffos.js is loaded, and stop it on exit."""
        driver = await cls.launch(
            cwd=cwd, node=node, default_timeout=default_timeout, startup_timeout=startup_timeout
        )
        try:
            yield driver
        finally:
            await driver.aclose()

    @classmethod
    async def launch(
        cls,
        *,
        cwd: Path = REPO_ROOT,
        node: str = "node",
        default_timeout: float = DEFAULT_TIMEOUT,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> NodeDriver:
        """Like :meth:`start` without the context manager; call :meth:`aclose` yourself."""
        proc = await asyncio.create_subprocess_exec(
            node,
            str(DRIVER_PATH),
            cwd=cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        driver = cls(proc, default_timeout=default_timeout)
        try:
            driver.info = await driver._wait(driver._ready, startup_timeout, "the driver's ready line")
        except BaseException:
            await driver.aclose()
            raise
        loaded = driver.info.get("neffosVersion")
        if loaded != NEFFOS_JS_VERSION:
            await driver.aclose()
            raise DriverError(f"driver loaded neffos.js {loaded}, want {NEFFOS_JS_VERSION}")
        return driver

    async def aclose(self, timeout: float = 5.0) -> None:
        """Ask the driver to exit (closing all connections); kill it if it does not."""
        if self._proc.returncode is None and self._dead is None:
            with contextlib.suppress(DriverError, CommandError):
                await self.command("exit", timeout=timeout)
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()
        try:
            await asyncio.wait_for(self._proc.wait(), timeout)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        for task in self._readers:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout)

    @property
    def stderr_tail(self) -> str:
        """The last lines the driver wrote to stderr."""
        return "\n".join(self._stderr)

    # -- I/O

    async def _read_stdout(self) -> None:
        assert self._proc.stdout is not None
        try:
            while line := await self._proc.stdout.readline():
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError:
                    self._stderr.append(f"[stdout, not JSON] {line.decode(errors='replace').rstrip()}")
                    continue
                self._dispatch(raw)
        except Exception as exc:  # a harness bug must not leave waiters hanging until timeout
            self._die(DriverError(f"reading the driver's output failed: {exc!r}{self._tail()}"))
            raise
        returncode = await self._proc.wait()
        self._die(DriverError(f"driver exited with code {returncode}{self._tail()}"))

    async def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        while line := await self._proc.stderr.readline():
            self._stderr.append(line.decode(errors="replace").rstrip())

    def _dispatch(self, raw: Mapping[str, Any]) -> None:
        if "event" in raw:
            if raw["event"] == "ready":
                if not self._ready.done():
                    self._ready.set_result(raw)
                return
            self._mailbox.put(DriverEvent.from_wire(raw))
            return
        pending = self._pending.pop(raw.get("id", -1), None)
        if pending is None:
            return  # answer to a command that already timed out
        command, future = pending
        if future.done():
            return
        if raw.get("ok"):
            future.set_result(raw.get("result"))
        else:
            future.set_exception(
                CommandError(command, str(raw.get("error", "")), str(raw.get("errorType", "?")))
            )

    def _die(self, exc: DriverError) -> None:
        self._dead = exc
        futures: list[asyncio.Future[Any]] = [f for _, f in self._pending.values()]
        futures += [w.future for w in self._mailbox.waiters]
        futures.append(self._ready)
        for future in futures:
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()
        self._mailbox.waiters.clear()

    def _tail(self) -> str:
        tail = self.stderr_tail
        return f"\n--- driver stderr (tail) ---\n{tail}" if tail else "\n(driver stderr is empty)"

    async def _wait(self, future: asyncio.Future[_T], timeout: float, what: str) -> _T:
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise DriverTimeoutError(f"timed out after {timeout}s waiting for {what}{self._tail()}") from None

    # -- commands and events

    async def command(self, cmd: str, *, timeout: float | None = None, **args: Any) -> Any:
        """Send one raw command and return its ``result``; raises :class:`CommandError`."""
        if self._dead is not None:
            raise self._dead
        assert self._proc.stdin is not None
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (cmd, future)
        line = json.dumps({"id": request_id, "cmd": cmd, **args}) + "\n"
        try:
            self._proc.stdin.write(line.encode())
            await self._proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            self._pending.pop(request_id, None)
            raise DriverError(f"cannot send {cmd!r} to the driver: {exc}{self._tail()}") from exc
        try:
            return await self._wait(future, timeout or self.default_timeout, f"the answer to {cmd} {args}")
        finally:
            self._pending.pop(request_id, None)

    async def together(
        self, *calls: tuple[str, Mapping[str, Any]], timeout: float | None = None
    ) -> list[Any]:
        """Start several raw commands in one tick of the driver, with no I/O between them.

        Each call is ``(cmd, args)``, e.g. ``("disconnect", {"conn": c.handle, "ns": "x"})``.
        Returns each command's ``result``, or the `CommandError` it failed with, in order.
        """
        answers = await self.command(
            "together", timeout=timeout, commands=[{"cmd": cmd, **args} for cmd, args in calls]
        )
        return [
            a["result"] if a["ok"] else CommandError(cmd, str(a["error"]), str(a["errorType"]))
            for (cmd, _), a in zip(calls, answers, strict=True)
        ]

    async def next_event(
        self, predicate: EventPredicate | None = None, *, timeout: float | None = None
    ) -> DriverEvent:
        """Take the oldest not-yet-taken event matching ``predicate`` (waiting if needed).

        Events that arrived earlier are kept until taken, so nothing is lost between an
        action and the wait for its effect.
        """
        match = predicate or (lambda _event: True)
        found = self._mailbox.take(match)
        if found is not None:
            return found
        if self._dead is not None:
            raise self._dead
        future: asyncio.Future[DriverEvent] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(match, future)
        self._mailbox.waiters.append(waiter)
        try:
            return await self._wait(
                future, timeout or self.default_timeout, f"an event{self._pending_summary()}"
            )
        finally:
            if waiter in self._mailbox.waiters:
                self._mailbox.waiters.remove(waiter)

    def _pending_summary(self) -> str:
        recent = self._mailbox.pending[-15:]
        if not recent:
            return " (no unconsumed events)"
        return " (unconsumed events, newest last:\n  " + "\n  ".join(map(str, recent)) + ")"

    @property
    def events(self) -> list[DriverEvent]:
        """Every event received so far, taken or not, in arrival order."""
        return list(self._mailbox.history)

    async def dial(
        self,
        url: str,
        namespaces: ClientNamespaces,
        *,
        headers: Mapping[str, str] | None = None,
        reconnect: int | None = None,
        record_system_events: bool = True,
        trace: bool = False,
        ws_options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> NodeConn:
        """``neffos.dial(url, handlers, {headers, reconnect})``; returns a connection handle.

        ``namespaces`` maps namespace -> event -> behaviour. Unless ``record_system_events``
        is False, the seven lifecycle events are also recorded in every namespace that has
        no ``_OnAnyEvent`` (that never changes dispatch). ``reconnect`` is in milliseconds.
        ``trace`` reports every incoming frame after the dial resolved as ``frame`` events.
        ``ws_options`` are merged into the options, which neffos.js passes on to the ``ws``
        package's ``WebSocket`` constructor (e.g. ``{"allowSynchronousEvents": False}``).
        Raises :class:`CommandError` on refusal (``H<text>``) or socket failure.
        """
        options: dict[str, Any] = {}
        if headers:
            options["headers"] = dict(headers)
        if reconnect:
            options["reconnect"] = reconnect
        if ws_options:
            options["ws"] = dict(ws_options)
        result = await self.command(
            "dial",
            url=url,
            namespaces={ns: dict(events) for ns, events in namespaces.items()},
            options=options,
            recordSystemEvents=record_system_events,
            trace=trace,
            timeout=timeout,
        )
        return NodeConn(self, handle=result["handle"], id=result["id"])


class NodeConn:
    """A dialled neffos.js connection, addressed through the driver by ``handle``.

    Commands act on the *latest* Conn: after an automatic reconnect the driver follows
    the new Conn that neffos.js hands to the handlers.
    """

    def __init__(self, driver: NodeDriver, *, handle: str, id: str | None) -> None:
        self.driver = driver
        self.handle = handle
        self.id = id
        """``conn.ID`` when the dial resolved (None if the ack carried none)."""

    def __repr__(self) -> str:
        return f"NodeConn({self.handle!r}, id={self.id!r})"

    async def _cmd(self, cmd: str, timeout: float | None, **args: Any) -> Any:
        return await self.driver.command(cmd, conn=self.handle, timeout=timeout, **args)

    async def connect(self, ns: str, *, timeout: float | None = None) -> None:
        """``conn.connect(ns)``; raises CommandError (e.g. "bad namespace")."""
        await self._cmd("connect", timeout, ns=ns)

    async def wait_server_connect(self, ns: str, *, timeout: float | None = None) -> bool:
        """``conn.waitServerConnect(ns)``; returns True if ``ns`` was already connected."""
        result = await self._cmd("waitServerConnect", timeout, ns=ns)
        return bool(result["alreadyConnected"])

    async def emit(self, ns: str, event: str, body: str = "", *, timeout: float | None = None) -> bool:
        """``nsConn.emit``; returns whether neffos.js wrote the frame."""
        return bool((await self._cmd("emit", timeout, ns=ns, event=event, body=body))["written"])

    async def emit_binary(self, ns: str, event: str, data: bytes, *, timeout: float | None = None) -> bool:
        """``nsConn.emitBinary(event, Uint8Array)``; returns whether it was written."""
        return bool((await self._cmd("emitBinary", timeout, ns=ns, event=event, bytes=list(data)))["written"])

    async def ask(
        self, ns: str, event: str, body: str = "", *, timeout: float | None = None
    ) -> NeffosMessage:
        """``nsConn.ask``; returns the reply. neffos.js never times out, this does."""
        return NeffosMessage.from_wire(await self._cmd("ask", timeout, ns=ns, event=event, body=body))

    async def ask_binary(
        self, ns: str, event: str, data: bytes, *, timeout: float | None = None
    ) -> NeffosMessage:
        """``conn.ask`` of a Message with ``SetBinary`` (a binary frame); returns the reply."""
        return NeffosMessage.from_wire(
            await self._cmd("askBinary", timeout, ns=ns, event=event, bytes=list(data))
        )

    async def join_room(self, ns: str, room: str, *, timeout: float | None = None) -> None:
        """``nsConn.joinRoom(room)``; raises CommandError on refusal."""
        await self._cmd("joinRoom", timeout, ns=ns, room=room)

    async def leave_room(self, ns: str, room: str, *, timeout: float | None = None) -> LeaveResult:
        """``Room.leave()``: resolves (never rejects) to an Error or null."""
        return _leave_result(await self._cmd("leaveRoom", timeout, ns=ns, room=room))

    async def leave_all(self, ns: str, *, timeout: float | None = None) -> LeaveResult:
        """``nsConn.leaveAll()`` (buggy in 0.1.34: sends ``_OnRoomLeft`` asks, resolves at once)."""
        return _leave_result(await self._cmd("leaveAll", timeout, ns=ns))

    async def room_emit(
        self, ns: str, room: str, event: str, body: str = "", *, timeout: float | None = None
    ) -> bool:
        """``Room.emit``; False when the room is not joined locally."""
        return bool(
            (await self._cmd("roomEmit", timeout, ns=ns, room=room, event=event, body=body))["written"]
        )

    async def disconnect(self, ns: str, *, timeout: float | None = None) -> LeaveResult:
        """``nsConn.disconnect()``: resolves to an Error or null."""
        return _leave_result(await self._cmd("disconnect", timeout, ns=ns))

    async def write_native(self, body: str, *, timeout: float | None = None) -> bool:
        """``conn.write(Message{IsNative, Namespace: ""})`` (needs namespace "" connected)."""
        return bool((await self._cmd("writeNative", timeout, body=body))["written"])

    async def close(self, *, timeout: float | None = None) -> None:
        """``conn.close()``: local forced events, then a close frame without status code."""
        await self._cmd("close", timeout)

    async def pause(self, *, timeout: float | None = None) -> None:
        """Stop reading the socket (``ws.pause()``): later frames wait in the kernel buffer."""
        await self._cmd("pause", timeout)

    async def resume(self, *, timeout: float | None = None) -> None:
        """Read again (``ws.resume()``): the frames that waited are handled as one chunk."""
        await self._cmd("resume", timeout)

    async def state(self, *, timeout: float | None = None) -> ConnState:
        """Current ID, closed/ack flags, reconnect count, namespaces and rooms, asks made."""
        r = await self._cmd("state", timeout)
        return ConnState(
            id=r["id"],
            is_closed=r["isClosed"],
            is_acknowledged=r["isAcknowledged"],
            reconnect_tries=r["reconnectTries"],
            was_reconnected=r["wasReconnected"],
            namespaces={ns: list(rooms) for ns, rooms in r["namespaces"].items()},
            waiting_messages=r["waitingMessages"],
        )

    # -- events of this connection

    async def next_event(
        self,
        kind: str | None = None,
        predicate: EventPredicate | None = None,
        *,
        timeout: float | None = None,
    ) -> DriverEvent:
        """The next untaken event of this connection, optionally of ``kind`` and matching."""

        def match(e: DriverEvent) -> bool:
            return (
                e.conn == self.handle
                and (kind is None or e.kind == kind)
                and (predicate is None or predicate(e))
            )

        return await self.driver.next_event(match, timeout=timeout)

    async def wait_for(
        self,
        event: str | None = None,
        *,
        ns: str | None = None,
        room: str | None = None,
        handler: str | None = None,
        where: Callable[[NeffosMessage], bool] | None = None,
        timeout: float | None = None,
    ) -> NeffosMessage:
        """The next untaken handler call on this connection matching all given filters."""

        def match(e: DriverEvent) -> bool:
            m = e.message
            return (
                m is not None
                and (event is None or m.event == event)
                and (ns is None or m.namespace == ns)
                and (room is None or m.room == room)
                and (handler is None or m.handler == handler)
                and (where is None or where(m))
            )

        found = await self.next_event("message", match, timeout=timeout)
        assert found.message is not None
        return found.message

    async def wait_closed(self, *, timeout: float | None = None) -> DriverEvent:
        """The next ``closed`` event (data: connId, code, reason, wasClean)."""
        return await self.next_event("closed", timeout=timeout)

    async def wait_reconnected(self, *, timeout: float | None = None) -> DriverEvent:
        """The next ``reconnected`` event (data: connId, previousConnId, reconnectTries)."""
        event = await self.next_event("reconnected", timeout=timeout)
        self.id = event.data.get("connId")
        return event

    def messages(self) -> list[NeffosMessage]:
        """Every handler call seen on this connection so far (taken or not)."""
        return [e.message for e in self.driver.events if e.conn == self.handle and e.message is not None]


def _leave_result(result: Mapping[str, Any]) -> LeaveResult:
    return LeaveResult.from_wire(result)
