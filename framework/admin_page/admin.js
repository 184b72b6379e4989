// The aioneffos admin page: polls <base>/api/state with the token in a header, shows it as text.
// Every value goes in with textContent, never as HTML: ids and room names come from clients.
"use strict";

(() => {
  const base = document.body.dataset.base;
  const pollMs = Number(document.body.dataset.poll) || 2000;
  const storageKey = "aioneffos-admin-token";
  const $ = (id) => document.getElementById(id);

  class Unauthorized extends Error {}

  // The token comes in the URL fragment (never sent to a server) or through the form; it is
  // kept for this tab only, and the fragment is removed from the address bar at once.
  function takeToken() {
    const fromFragment = new URLSearchParams(location.hash.slice(1)).get("token");
    if (fromFragment) {
      sessionStorage.setItem(storageKey, fromFragment);
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(storageKey) || "";
  }

  let token = takeToken();
  let timer = null;

  async function api(method, route, body) {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(base + "/api/" + route, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
    if (response.status === 401) throw new Unauthorized();
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1024 / 1024).toFixed(1) + " MiB";
  }

  // A second click within a few seconds confirms (no window.confirm: it blocks the page). The
  // table is redrawn on every poll, so which button is armed is kept here, not in the button.
  let armed = { key: null, until: 0 };
  const ARM_MS = 4000;

  function disconnectButton(conn) {
    const button = document.createElement("button");
    button.type = "button";
    const isArmed = armed.key === conn.key && Date.now() < armed.until;
    button.textContent = isArmed ? "Really?" : "Disconnect";
    if (isArmed) button.classList.add("armed");
    button.addEventListener("click", async () => {
      if (!(armed.key === conn.key && Date.now() < armed.until)) {
        armed = { key: conn.key, until: Date.now() + ARM_MS };
        button.textContent = "Really?";
        button.classList.add("armed");
        return;
      }
      armed = { key: null, until: 0 };
      button.disabled = true;
      try {
        await api("POST", "disconnect", { key: conn.key });
        say("disconnecting " + conn.id);
        poll();
      } catch (error) {
        handle(error);
      }
    });
    return button;
  }

  function render(state) {
    $("node").textContent = state.node;
    $("state").textContent = (state.accepting ? "accepting connections" : "closing")
      + (state.ready ? ", ready" : ", not ready: " + state.reasons.join("; "));
    $("state").className = state.ready ? "ok" : "error";
    $("namespaces").textContent = state.namespaces.map((n) => JSON.stringify(n)).join(", ");
    const ex = state.exchange;
    const counts = Object.entries(ex.counts).map(([name, count]) => count + " " + name).join(", ");
    $("exchange").textContent = ex.kind + (ex.broker ? " on " + ex.broker : "") + ", " + ex.health
      + (counts ? " (" + counts + ")" : "");
    $("exchange").className = ex.health === "up" ? "ok" : ex.health === "degraded" ? "warn" : "error";
    $("peers").textContent = ex.peers.length ? ex.peers.join(", ") : "none";

    const shown = state.connections.length;
    $("conn-count").textContent = shown < state.total ? `(${shown} of ${state.total})` : `(${state.total})`;
    const tbody = $("connections").tBodies[0];
    const rows = state.connections.map((conn) => {
      const row = document.createElement("tr");
      row.dataset.key = conn.key;
      row.dataset.search = (conn.id + " " + conn.remote).toLowerCase();
      cell(row, conn.id, "id");
      cell(row, conn.remote);
      const namespaces = Object.entries(conn.namespaces)
        .map(([ns, rooms]) => JSON.stringify(ns) + (rooms.length ? ": " + rooms.join(", ") : ""));
      cell(row, namespaces.join("; ") || "none yet");
      cell(row, conn.queued_frames ? `${conn.queued_frames} (${bytes(conn.queued_bytes)})` : "0", "num");
      cell(row, conn.asks_in_flight, "num");
      cell(row, conn.reconnect_tries, "num");
      const action = cell(row, conn.closing ? "closing" : "");
      if (!conn.closing) action.appendChild(disconnectButton(conn));
      return row;
    });
    tbody.replaceChildren(...rows);
    applyFilter();

    $("room-count").textContent = `(${state.rooms.length})`;
    $("rooms").tBodies[0].replaceChildren(...state.rooms.map((room) => {
      const row = document.createElement("tr");
      cell(row, room.namespace);
      cell(row, room.room, "id");
      const more = room.count > room.members.length ? ` … (${room.count} in all)` : "";
      cell(row, room.members.join(", ") + more);
      return row;
    }));
  }

  function applyFilter() {
    const text = $("filter").value.trim().toLowerCase();
    for (const row of $("connections").tBodies[0].rows) {
      row.hidden = text !== "" && !row.dataset.search.includes(text);
    }
  }

  function say(text, isError) {
    $("status").textContent = text;
    $("status").className = isError ? "error" : "";
  }

  function showLogin(message) {
    clearTimeout(timer);
    $("view").hidden = true;
    $("forget").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    say("the admin API needs a token", true);
    $("token").focus();
  }

  function handle(error) {
    if (error instanceof Unauthorized) {
      showLogin(token ? "this token was refused" : "");
      return;
    }
    say("could not reach the server: " + error.message, true);
  }

  let generation = 0;  // a poll started later wins: no stale redraw, one timer at a time

  async function poll() {
    const mine = ++generation;
    clearTimeout(timer);
    try {
      const state = await api("GET", "state");
      if (mine !== generation) return;
      render(state);
      $("login").hidden = true;
      $("view").hidden = false;
      $("forget").hidden = !token;
      say("updated " + new Date().toLocaleTimeString());
    } catch (error) {
      if (mine !== generation) return;
      handle(error);
      if (error instanceof Unauthorized) return;
    }
    timer = setTimeout(poll, pollMs);
  }

  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    sessionStorage.setItem(storageKey, token);
    poll();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(storageKey);
    token = "";
    showLogin("");
  });
  $("filter").addEventListener("input", applyFilter);

  poll();
})();
