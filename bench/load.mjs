// Load generator of the scale benchmarks (bench/scale.py, bench/fifty_k.py): raw websockets
// from the `ws` package (node_modules), speaking just enough of the neffos wire format.
//
//   node bench/load.mjs '<json settings>'   ->  one JSON line on stdout with the results
//
// Settings: {mode, base: "http://127.0.0.1:PORT", ...}. Every connection is opened as a
// neffos client does (upgrade, "M" -> "A<id>", connect namespace "default" -> its reply);
// against the raw aiohttp echo server the same frames come back echoed, so both servers
// see the same traffic. Server CPU seconds and resident memory come from GET /stats of the
// server process (bench/servers.py).
//
// mode "echo" {clients, roundTrips, warmup, body}: `clients` connections each ask in a
//   loop (send, wait for the reply); gives server CPU per round trip and client-side
//   round-trip percentiles over `roundTrips` in all, after `warmup` per connection.
// mode "hold" {connections, inFlight, sources, sourceBase, broadcasts, size, idleSeconds}:
//   opens `connections` connections, `inFlight` at a time, from `sources` loopback source
//   addresses (127.0.0.<sourceBase>, +1, ...: one address has ~28,000 ephemeral ports);
//   gives the connect rate and server CPU per connection set-up, resident memory per
//   connection, `broadcasts` broadcasts of `size` bytes to all (the server's send loop and
//   the time until the last connection got it), and the server's CPU while every
//   connection sits idle for `idleSeconds` (pings included when the server sends them).
//   With `objects: true` also the tracked objects per connection by type (bench/per_conn.py);
//   `tracedPerConn` is the server's traced bytes per connection when it runs --tracemalloc.

import WebSocket from "ws";

const settings = JSON.parse(process.argv[2]);
const base = settings.base;
const wsUrl = base.replace(/^http/, "ws") + "/ws";
const CONNECT = "$c;default;;_OnNamespaceConnect;0;0;";

const now = () => Number(process.hrtime.bigint()) / 1e9;

async function stats(gc = false) {
  const resp = await fetch(`${base}/stats?gc=${gc ? 1 : 0}`);
  return await resp.json();
}

// The objects the server's collector tracks, by type (GET /objects).
async function objects() {
  const resp = await fetch(`${base}/objects`);
  return await resp.json();
}

// Opens one connection and does the neffos handshake; resolves with the socket, whose
// later messages go to `onMessage`.
function open(localAddress, onMessage) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { perMessageDeflate: false, localAddress });
    let step = 0;
    ws.on("error", reject);
    ws.on("open", () => ws.send("M"));
    ws.on("message", (data) => {
      if (step === 0) {
        step = 1;
        ws.send(CONNECT);
      } else if (step === 1) {
        step = 2;
        ws.removeListener("error", reject);
        ws.on("error", () => {});
        resolve(ws);
      } else {
        onMessage(ws, data);
      }
    });
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function echo() {
  const { clients, roundTrips, warmup, body } = settings;
  const perClient = Math.max(1, Math.ceil(roundTrips / clients));
  const waiting = new Map(); // socket -> resolve of its pending ask
  const onMessage = (ws) => {
    const done = waiting.get(ws);
    if (done !== undefined) {
      waiting.delete(ws);
      done();
    }
  };
  const sockets = [];
  for (let i = 0; i < clients; i += 250) {
    const batch = Math.min(250, clients - i);
    sockets.push(...(await Promise.all(Array.from({ length: batch }, () => open(undefined, onMessage)))));
  }
  const latencies = [];
  const run = async (ws, count, record) => {
    for (let i = 0; i < count; i++) {
      const started = now();
      await new Promise((resolve) => {
        waiting.set(ws, resolve);
        ws.send(`$${i};default;;echo;0;0;${body}`);
      });
      if (record) latencies.push(now() - started);
    }
  };
  await Promise.all(sockets.map((ws) => run(ws, warmup, false)));
  const before = await stats();
  const started = now();
  const ownBefore = process.cpuUsage();
  await Promise.all(sockets.map((ws) => run(ws, perClient, true)));
  const own = process.cpuUsage(ownBefore);
  const wall = now() - started;
  const after = await stats();
  for (const ws of sockets) ws.terminate();
  latencies.sort((a, b) => a - b);
  const count = perClient * clients;
  return {
    mode: "echo",
    clients,
    roundTrips: count,
    cpuUs: ((after.cpu - before.cpu) / count) * 1e6,
    p50Us: percentile(latencies, 50) * 1e6,
    p99Us: percentile(latencies, 99) * 1e6,
    perSecond: count / wall,
    serverBusy: (after.cpu - before.cpu) / wall,
    gcUs: [0, 1, 2].map((g) => ((after.gc_seconds[g] - before.gc_seconds[g]) / count) * 1e6),
    gcCollections: [0, 1, 2].map((g) => after.gc_count[g] - before.gc_count[g]),
    loadgenBusy: (own.user + own.system) / 1e6 / wall,
  };
}

async function hold() {
  const { connections, inFlight, sources, sourceBase, broadcasts, size, idleSeconds } = settings;
  let received = 0;
  let target = Infinity;
  let allGot = null;
  const onMessage = () => {
    received += 1;
    if (received >= target && allGot !== null) {
      const done = allGot;
      allGot = null;
      done(now());
    }
  };
  const objects0 = settings.objects ? await objects() : null;
  const idle0 = await stats(true);
  const sockets = [];
  let next = 0;
  const started = now();
  const ownBefore = process.cpuUsage();
  const worker = async () => {
    while (next < connections) {
      const i = next++;
      const address = `127.0.0.${sourceBase + (i % sources)}`;
      sockets.push(await open(address, onMessage));
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, connections) }, worker));
  const connectSeconds = now() - started;
  const own = process.cpuUsage(ownBefore);
  const opened = await stats(true);
  let objectsPerConn = null;
  if (objects0 !== null) {
    const objects1 = await objects();
    objectsPerConn = {};
    for (const [name, count] of Object.entries(objects1)) {
      const per = (count - (objects0[name] || 0)) / connections;
      if (Math.abs(per) >= 0.01) objectsPerConn[name] = per;
    }
  }
  const rounds = [];
  for (let r = 0; r < broadcasts; r++) {
    received = 0;
    target = connections;
    const got = new Promise((resolve) => {
      allGot = resolve;
    });
    const asked = now();
    const resp = await fetch(`${base}/broadcast?size=${size}`);
    const answer = await resp.json();
    if (answer.sent !== connections) throw new Error(`broadcast reached ${answer.sent} of ${connections}`);
    const last = await got;
    rounds.push({ sendMs: answer.seconds * 1e3, lastMs: (last - asked) * 1e3 });
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const quiet0 = await stats();
  await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
  const quiet1 = await stats();
  const stillOpen = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
  for (const ws of sockets) ws.terminate();
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : 0;
  };
  return {
    mode: "hold",
    connections,
    stillOpen,
    connectSeconds,
    connectRate: connections / connectSeconds,
    connectCpuUs: ((opened.cpu - idle0.cpu) / connections) * 1e6,
    connectLoadgenBusy: (own.user + own.system) / 1e6 / connectSeconds,
    connectGcUs: [0, 1, 2].map((g) => ((opened.gc_seconds[g] - idle0.gc_seconds[g]) / connections) * 1e6),
    connectGcCollections: [0, 1, 2].map((g) => opened.gc_count[g] - idle0.gc_count[g]),
    idleKib: (opened.rss - idle0.rss) / connections / 1024,
    trackedPerConn: (opened.tracked - idle0.tracked) / connections,
    tracedPerConn: opened.traced === null ? null : (opened.traced - idle0.traced) / connections,
    objectsPerConn,
    rssMib: opened.rss / 1048576,
    tasksPerConn: (opened.tasks - idle0.tasks) / connections,
    broadcastSendMs: median(rounds.map((r) => r.sendMs)),
    broadcastLastMs: median(rounds.map((r) => r.lastMs)),
    broadcastLastMsAll: rounds.map((r) => r.lastMs),
    idleSeconds: quiet1.wall - quiet0.wall,
    idleCpuPercent: ((quiet1.cpu - quiet0.cpu) / (quiet1.wall - quiet0.wall)) * 100,
  };
}

const result = settings.mode === "echo" ? await echo() : await hold();
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
