// The chat page: neffos.js (served from node_modules by the sample) talking to ChatController.
import * as neffos from "/neffos.js/neffos.js";

const NAMESPACE = "chat";
const $ = (id) => document.getElementById(id);

let chat = null;           // the NSConn of namespace "chat" (a new one after each reconnection)
let currentRoom = "general";

function setStatus(text, online) {
  $("status").textContent = text;
  $("status").className = online ? "online" : "offline";
}

function setInputEnabled(enabled) {
  $("text").disabled = !enabled;
  $("send").disabled = !enabled;
}

function addLine(kind, parts) {
  const item = document.createElement("li");
  item.className = kind;
  for (const [cls, text] of parts) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    item.append(span);
  }
  $("messages").append(item);
  $("messages").scrollTop = $("messages").scrollHeight;
}

function addMessage(message) {
  const time = new Date(message.at * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  addLine("chat", [["time", time], ["sender", message.sender], ["separator", ": "], ["text", message.text]]);
}

function showRoom(room) {
  currentRoom = room;
  $("room-title").textContent = "#" + room;
  for (const button of document.querySelectorAll("#rooms button")) {
    button.classList.toggle("current", button.dataset.room === room);
  }
}

// The events this client handles, for namespace "chat".
const events = {
  [NAMESPACE]: {
    _OnNamespaceConnected(ns, msg) {
      chat = ns;
      setStatus("connected as " + $("name").value, true);
      // After a reconnection neffos.js joins the previous rooms by itself.
      if (!ns.conn.wasReconnected()) {
        joinRoom(currentRoom);
      }
    },
    _OnNamespaceDisconnect(ns, msg) {
      setStatus("disconnected, reconnecting…", false);
      setInputEnabled(false);
    },
    _OnRoomJoined(ns, msg) {
      showRoom(msg.Room);
      setInputEnabled(true);
      $("text").focus();
    },
    OnHistory(ns, msg) {
      $("messages").replaceChildren();
      for (const message of JSON.parse(msg.Body)) {
        addMessage(message);
      }
    },
    OnChat(ns, msg) {
      if (msg.isError) {  // the server refused what we said
        addLine("error", [["text", msg.Err.message]]);
        return;
      }
      addMessage(JSON.parse(msg.Body));
    },
    OnNotice(ns, msg) {
      addLine("notice", [["text", msg.Body]]);
    },
  },
};

async function joinRoom(room) {
  if (chat === null) {
    return;
  }
  setInputEnabled(false);
  try {
    const previous = chat.room(currentRoom);
    if (previous !== undefined && currentRoom !== room) {
      await previous.leave();
    }
    await chat.joinRoom(room);
  } catch (err) {
    addLine("error", [["text", "could not join #" + room + ": " + (err.message || err)]]);
  }
}

async function start(name) {
  $("login-error").textContent = "";
  try {
    // `headers` reach the server as X-Websocket-Header-* query parameters (browsers cannot
    // set websocket headers); `reconnect` (ms) makes neffos.js dial again after a drop.
    const conn = await neffos.dial("/ws", events, { headers: { "X-Username": name }, reconnect: 1000 });
    try {
      await conn.connect(NAMESPACE);
    } catch (err) {
      conn.close();
      throw err;
    }
    $("login").hidden = true;
    $("chat").hidden = false;
  } catch (err) {
    $("login-error").textContent = "could not join: " + (err.message || err);
  }
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  start($("name").value.trim());
});

$("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  const room = chat && chat.room(currentRoom);
  if (text && room) {
    room.emit("OnChat", JSON.stringify({ text }));
    $("text").value = "";
  }
});

for (const button of document.querySelectorAll("#rooms button")) {
  button.addEventListener("click", () => joinRoom(button.dataset.room));
}

// http://127.0.0.1:8080/?name=alice joins at once; &room=python picks the first room.
const params = new URLSearchParams(location.search);
if (params.get("room")) {
  showRoom(params.get("room"));
}
if (params.get("name")) {
  $("name").value = params.get("name");
  start(params.get("name"));
}
