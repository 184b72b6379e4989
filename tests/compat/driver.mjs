// Remote control for the real, published neffos.js client, loaded from node_modules.
// Driven by tests/compat/node_client.py; newline-delimited JSON both ways.
//
//   stdin  <- {"id": <any>, "cmd": "<name>", ...args}
//   stdout -> {"id": <same>, "ok": true, "result": {...}}
//             {"id": <same>, "ok": false, "error": "<text>", "errorType": "<kind>"}
//             {"event": "<kind>", "seq": <n>, ...}          (asynchronous happenings)
//   stderr -> free-form diagnostics only (console.log is redirected there).
//
// errorType: the rejected value's class ("Error", "ErrorEvent"...), "string", "undefined",
// "null", or "driver" for a bad command.
//
// Commands ("conn" is a handle returned by dial; "ns" a namespace name):
//   dial {url, namespaces: {ns: {event: behaviour}}, options?: {headers?, reconnect?, ws?},
//         recordSystemEvents? = true, trace? = false, handle?}    -> {handle, id}
//        behaviour: "record" | {reply: text} | {error: text} | {replyBinary: [bytes]}
//                   | {throw: text} | {returnValue: any}
//   connect {conn, ns}                          -> {namespace}
//   waitServerConnect {conn, ns}                -> {namespace, alreadyConnected}
//   emit {conn, ns, event, body}                -> {written}
//   emitBinary {conn, ns, event, bytes: [..]}   -> {written}
//   ask {conn, ns, event, body}                 -> <message>   (the reply)
//   askBinary {conn, ns, event, bytes: [..]}    -> <message>   (an ask sent as a binary frame)
//   joinRoom {conn, ns, room}                   -> {room}
//   leaveRoom {conn, ns, room}                  -> {error: text|null, resolvedTo}
//   leaveAll {conn, ns}                         -> {error: text|null, resolvedTo}
//   roomEmit {conn, ns, room, event, body}      -> {written}
//   disconnect {conn, ns}                       -> {error: text|null, resolvedTo}
//   writeNative {conn, body}                    -> {written}
//   close {conn}                                -> {}
//   pause {conn} / resume {conn}                -> {}   stop / restart reading the raw socket
//        (frames the server sends meanwhile are then read and handled in one chunk)
//   state {conn}                                -> {id, isClosed, isAcknowledged, reconnectTries,
//                                                   wasReconnected, namespaces: {ns: [rooms]},
//                                                   waitingMessages}
//   together {commands: [{cmd, ...args}, ..]}   -> [{ok, result} | {ok: false, error, errorType}]
//        starts every command in the same tick (no I/O in between), then waits for all
//   exit                                        -> {} then the process exits (also on stdin EOF)
//
// Events:
//   ready {neffosVersion, neffosPath, wsVersion, node}
//   message {conn, connId, handler, msg: <message>}    a declared handler ran
//   reconnected {conn, connId, previousConnId, reconnectTries}
//   closed {conn, connId, code, reason, wasClean}      the raw socket closed
//   socketError {conn, connId, error, errorType}
//   frame {conn, connId, data: text|[bytes], binary}   incoming frame (dial with trace)
//   uncaughtException {error, errorType, stack} / unhandledRejection {error, errorType}
//
// <message>: {Namespace, Room, Event, body: text|[bytes]|null, binary, Err: text|null,
//             isError, IsForced, IsLocal, IsNative, SetBinary, isNoOp, wait}

import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import neffos from "neffos.js";

// Keep stdout a pure protocol channel, even if a library logs.
console.log = console.error;
console.info = console.error;
console.warn = console.error;

const require = createRequire(import.meta.url);
const NEFFOS_PKG = require.resolve("neffos.js/package.json");
const NEFFOS_VERSION = require(NEFFOS_PKG).version;
const WS_VERSION = require("ws/package.json").version;

// The seven lifecycle events; recorded automatically unless the test opts out.
const SYSTEM_EVENTS = [
  neffos.OnNamespaceConnect,
  neffos.OnNamespaceConnected,
  neffos.OnNamespaceDisconnect,
  neffos.OnRoomJoin,
  neffos.OnRoomJoined,
  neffos.OnRoomLeave,
  neffos.OnRoomLeft,
];

let seq = 0;

function send(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function emitEvent(kind, fields) {
  send({ event: kind, seq: ++seq, ...fields });
}

class DriverError extends Error {}

// ---------------------------------------------------------------- values

/** Describe any thrown/rejected/resolved "error" value without losing what it was. */
function describeError(value) {
  if (value === undefined) return { error: "", errorType: "undefined" };
  if (value === null) return { error: "", errorType: "null" };
  if (value instanceof DriverError) return { error: value.message, errorType: "driver" };
  if (value instanceof Error) return { error: value.message, errorType: value.constructor.name };
  if (typeof value === "string") return { error: value, errorType: "string" };
  if (typeof value === "object" && typeof value.message === "string") {
    // e.g. the ErrorEvent `ws` hands to onerror, which neffos.js forwards to dial's reject.
    return { error: value.message, errorType: value.constructor?.name ?? "object" };
  }
  return { error: String(value), errorType: typeof value };
}

/** A Message body as JSON: string, byte array (binary) or null. */
function encodeBody(body) {
  if (body === undefined || body === null) return { body: null, binary: false };
  if (body instanceof ArrayBuffer) return { body: Array.from(new Uint8Array(body)), binary: true };
  if (ArrayBuffer.isView(body)) {
    const bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    return { body: Array.from(bytes), binary: true };
  }
  if (typeof body === "string") return { body, binary: false };
  return { body: String(body), binary: false };
}

/** Every Message field neffos.js exposes (plus the internal wait token and no-op flag). */
function encodeMessage(msg) {
  return {
    Namespace: msg.Namespace ?? null,
    Room: msg.Room ?? null,
    Event: msg.Event ?? null,
    ...encodeBody(msg.Body),
    Err: msg.Err === undefined || msg.Err === null ? null : describeError(msg.Err).error,
    isError: Boolean(msg.isError),
    IsForced: Boolean(msg.IsForced),
    IsLocal: Boolean(msg.IsLocal),
    IsNative: Boolean(msg.IsNative),
    SetBinary: Boolean(msg.SetBinary),
    isNoOp: Boolean(msg.isNoOp),
    wait: msg.wait ?? null,
  };
}

function bytesArg(value, name) {
  if (!Array.isArray(value) || !value.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) {
    throw new DriverError(`"${name}" must be an array of byte values`);
  }
  return Uint8Array.from(value);
}

// ---------------------------------------------------------------- connections

/**
 * One dialled client. neffos.js replaces the Conn object on every automatic reconnect and
 * exposes the new one only through handler arguments (nsConn.conn), so `conn` is updated
 * from there.
 */
class Handle {
  constructor(name, trace) {
    this.name = name;
    this.trace = trace;
    this.conn = null;
    this.seen = new WeakSet();
  }

  adopt(conn) {
    if (conn === this.conn || this.seen.has(conn)) return;
    const previous = this.conn;
    this.conn = conn;
    this.seen.add(conn);
    this.watch(conn);
    if (previous !== null) {
      emitEvent("reconnected", {
        conn: this.name,
        connId: conn.ID ?? null,
        previousConnId: previous.ID ?? null,
        reconnectTries: conn.reconnectTries,
      });
    }
  }

  /** Observe the raw socket with extra listeners; neffos.js' own on* handlers stay untouched. */
  watch(conn) {
    const ws = conn.conn;
    ws.addEventListener("close", (evt) => {
      emitEvent("closed", {
        conn: this.name,
        connId: conn.ID ?? null,
        code: evt.code,
        reason: evt.reason,
        wasClean: evt.wasClean,
      });
    });
    ws.addEventListener("error", (evt) => {
      emitEvent("socketError", { conn: this.name, connId: conn.ID ?? null, ...describeError(evt) });
    });
    if (this.trace) {
      ws.addEventListener("message", (evt) => {
        const { body, binary } = encodeBody(evt.data);
        emitEvent("frame", { conn: this.name, connId: conn.ID ?? null, data: body, binary });
      });
    }
  }

  live() {
    if (this.conn === null) throw new DriverError(`connection ${this.name} is not dialled`);
    return this.conn;
  }
}

const handles = new Map();
let handleCounter = 0;

function handleFor(args) {
  const handle = handles.get(args.conn);
  if (handle === undefined) throw new DriverError(`unknown connection handle ${JSON.stringify(args.conn)}`);
  return handle;
}

/**
 * The namespace's NSConn, or, when it is not connected, a detached NSConn bound to the
 * live Conn: the same object an app would still hold after a disconnect, so the library's
 * own checks (write closed, bad room, bad namespace) decide the outcome.
 */
function nsConnFor(args) {
  const conn = handleFor(args).live();
  if (typeof args.ns !== "string") throw new DriverError('"ns" must be a string');
  return conn.namespace(args.ns) ?? new neffos.NSConn(conn, args.ns, new Map());
}

// ---------------------------------------------------------------- handlers

/** Build a synchronous neffos.js handler that reports the call, then acts as declared. */
function makeHandler(handle, handlerName, behaviour) {
  if (behaviour === "record") behaviour = {};
  if (typeof behaviour !== "object" || behaviour === null || Array.isArray(behaviour)) {
    throw new DriverError(`bad behaviour for ${handlerName}: ${JSON.stringify(behaviour)}`);
  }
  const replyBinary = "replyBinary" in behaviour ? bytesArg(behaviour.replyBinary, "replyBinary") : null;
  return (nsConn, msg) => {
    handle.adopt(nsConn.conn);
    emitEvent("message", {
      conn: handle.name,
      connId: nsConn.conn.ID ?? null,
      handler: handlerName,
      msg: encodeMessage(msg),
    });
    if ("reply" in behaviour) return neffos.reply(behaviour.reply);
    if ("error" in behaviour) return new Error(behaviour.error);
    if ("throw" in behaviour) throw new Error(behaviour.throw);
    if ("returnValue" in behaviour) return behaviour.returnValue;
    if (replyBinary !== null) {
      // neffos.reply() can only carry text, so answer by hand with the same wait token.
      const answer = new neffos.Message();
      answer.wait = msg.wait;
      answer.Namespace = msg.Namespace;
      answer.Room = msg.Room;
      answer.Event = msg.Event;
      answer.Body = replyBinary;
      answer.SetBinary = true;
      nsConn.conn.write(answer);
    }
    return null; // same as "no handler": fireEvent returns null then too.
  };
}

function buildConnHandler(handle, namespaces, recordSystemEvents) {
  if (typeof namespaces !== "object" || namespaces === null || Array.isArray(namespaces)) {
    throw new DriverError('"namespaces" must be an object {namespace: {event: behaviour}}');
  }
  const connHandler = {};
  for (const [ns, events] of Object.entries(namespaces)) {
    if (typeof events !== "object" || events === null || Array.isArray(events)) {
      throw new DriverError(`namespace ${JSON.stringify(ns)} must map to {event: behaviour}`);
    }
    const declared = { ...events };
    // Auto-recording must not change dispatch: with _OnAnyEvent declared, undeclared system
    // events fall back to it, so leave them alone.
    if (recordSystemEvents && !(neffos.OnAnyEvent in declared)) {
      for (const name of SYSTEM_EVENTS) if (!(name in declared)) declared[name] = "record";
    }
    connHandler[ns] = {};
    for (const [event, behaviour] of Object.entries(declared)) {
      connHandler[ns][event] = makeHandler(handle, event, behaviour);
    }
  }
  return connHandler;
}

// ---------------------------------------------------------------- commands

function errorOutcome(value) {
  // For calls that *resolve* to an Error or null (Room.leave, NSConn.disconnect, leaveAll).
  if (value === null || value === undefined) return { error: null, resolvedTo: String(value) };
  return { ...describeError(value), resolvedTo: "Error" };
}

const commands = {
  async dial(args) {
    const name = args.handle ?? `c${++handleCounter}`;
    if (handles.has(name)) throw new DriverError(`handle ${name} already exists`);
    const handle = new Handle(name, Boolean(args.trace));
    const connHandler = buildConnHandler(handle, args.namespaces ?? {}, args.recordSystemEvents ?? true);
    const options = {};
    if (args.options?.headers) options.headers = { ...args.options.headers };
    if (args.options?.reconnect) options.reconnect = args.options.reconnect;
    // neffos.js hands its whole options object to `new WebSocket(url, options)` of `ws` on
    // Node, so `ws` options (e.g. allowSynchronousEvents) can ride along.
    if (args.options?.ws) Object.assign(options, args.options.ws);
    handles.set(name, handle);
    let conn;
    try {
      conn = await neffos.dial(args.url, connHandler, options);
    } catch (err) {
      handles.delete(name);
      throw err;
    }
    handle.adopt(conn);
    return { handle: name, id: conn.ID ?? null };
  },

  async connect(args) {
    const conn = handleFor(args).live();
    const nsConn = await conn.connect(args.ns);
    return { namespace: nsConn.namespace };
  },

  async waitServerConnect(args) {
    const conn = handleFor(args).live();
    // neffos.js only notices a connect that happens *after* this call; one that already
    // happened would make it wait forever, so answer that case directly.
    if (conn.namespace(args.ns) !== undefined) return { namespace: args.ns, alreadyConnected: true };
    const nsConn = await conn.waitServerConnect(args.ns);
    return { namespace: nsConn?.namespace ?? args.ns, alreadyConnected: false };
  },

  async emit(args) {
    return { written: nsConnFor(args).emit(args.event, args.body ?? "") };
  },

  async emitBinary(args) {
    return { written: nsConnFor(args).emitBinary(args.event, bytesArg(args.bytes, "bytes")) };
  },

  async ask(args) {
    const reply = await nsConnFor(args).ask(args.event, args.body ?? "");
    return encodeMessage(reply);
  },

  async askBinary(args) {
    // NSConn.ask has no binary form; build the Message as emitBinary does and ask with it.
    const nsConn = nsConnFor(args);
    const msg = new neffos.Message();
    msg.Namespace = nsConn.namespace;
    msg.Event = args.event;
    msg.Body = bytesArg(args.bytes, "bytes");
    msg.SetBinary = true;
    return encodeMessage(await nsConn.conn.ask(msg));
  },

  async joinRoom(args) {
    const room = await nsConnFor(args).joinRoom(args.room);
    return { room: room.name };
  },

  async leaveRoom(args) {
    const nsConn = nsConnFor(args);
    // Not joined: the library's Room.leave() resolves to "bad room"; let it say so.
    const room = nsConn.room(args.room) ?? new neffos.Room(nsConn, args.room);
    return errorOutcome(await room.leave());
  },

  async leaveAll(args) {
    return errorOutcome(await nsConnFor(args).leaveAll());
  },

  async roomEmit(args) {
    const nsConn = nsConnFor(args);
    const room = nsConn.room(args.room) ?? new neffos.Room(nsConn, args.room);
    return { written: room.emit(args.event, args.body ?? "") };
  },

  async disconnect(args) {
    return errorOutcome(await nsConnFor(args).disconnect());
  },

  async writeNative(args) {
    const msg = new neffos.Message();
    msg.IsNative = true;
    msg.Namespace = "";
    msg.Body = args.body ?? "";
    return { written: handleFor(args).live().write(msg) };
  },

  async close(args) {
    handleFor(args).live().close();
    return {};
  },

  async pause(args) {
    handleFor(args).live().conn.pause();
    return {};
  },

  async resume(args) {
    handleFor(args).live().conn.resume();
    return {};
  },

  async state(args) {
    const conn = handleFor(args).live();
    const namespaces = {};
    for (const [name, nsConn] of conn.connectedNamespaces) namespaces[name] = Array.from(nsConn.rooms.keys());
    return {
      id: conn.ID ?? null,
      isClosed: conn.isClosed(),
      isAcknowledged: conn.isAcknowledged(),
      reconnectTries: conn.reconnectTries,
      wasReconnected: conn.wasReconnected(),
      namespaces,
      // neffos.js never deletes answered entries, so this counts every ask since dial.
      waitingMessages: conn.waitingMessages.size,
    };
  },

  async together(args) {
    if (!Array.isArray(args.commands)) throw new DriverError('"commands" must be an array');
    // Each command runs synchronously up to its first await, so every frame the commands
    // write leaves before any answer can be handled.
    const runs = args.commands.map(({ cmd, ...rest }) => {
      const command = Object.hasOwn(commands, cmd) && cmd !== "together" ? commands[cmd] : undefined;
      if (command === undefined) return Promise.reject(new DriverError(`unknown command ${JSON.stringify(cmd)}`));
      return command(rest);
    });
    const settled = await Promise.allSettled(runs);
    return settled.map((s) => (s.status === "fulfilled" ? { ok: true, result: s.value } : { ok: false, ...describeError(s.reason) }));
  },

  async exit() {
    setImmediate(shutdown);
    return {};
  },
};

function shutdown() {
  for (const handle of handles.values()) {
    try {
      handle.conn?.close();
    } catch (err) {
      console.error("close failed:", err);
    }
  }
  process.exit(0);
}

async function run(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    console.error("driver: ignoring non-JSON input line:", line);
    return;
  }
  const { id, cmd, ...args } = request;
  try {
    const command = Object.hasOwn(commands, cmd) ? commands[cmd] : undefined;
    if (command === undefined) throw new DriverError(`unknown command ${JSON.stringify(cmd)}`);
    send({ id, ok: true, result: await command(args) });
  } catch (err) {
    send({ id, ok: false, ...describeError(err) });
  }
}

// neffos.js leaves some promises unhandled (e.g. the namespace re-connects after a reconnect)
// and throws from socket callbacks on some inputs; report instead of dying.
process.on("unhandledRejection", (reason) => {
  emitEvent("unhandledRejection", describeError(reason));
});
process.on("uncaughtException", (err) => {
  emitEvent("uncaughtException", { ...describeError(err), stack: err?.stack ?? null });
});

const input = createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on("line", (line) => {
  if (line.trim() !== "") void run(line);
});
input.on("close", shutdown);

emitEvent("ready", {
  neffosVersion: NEFFOS_VERSION,
  neffosPath: NEFFOS_PKG,
  wsVersion: WS_VERSION,
  node: process.version,
});
