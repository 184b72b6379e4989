// The chat page: neffos.js (served from node_modules by the sample) talking to ChatController.
import * as neffos from "/neffos.js/neffos.js";

const NAMESPACE = "chat";
const FIRST_ROOM = "general";
const $ = (id) => document.getElementById(id);

let chat = null;           // the NSConn of namespace "chat" (a new one after each reconnection)
let joinedRoom = null;     // the room this tab is in, once the server said yes
let wantedRoom = FIRST_ROOM;
let joining = false;       // a dial is under way: a second click on "Join" must not open another
let roomChanges = Promise.resolve();  // room switches run one after the other

// neffos.dial rejects with the WebSocket's error Event when the server cannot be reached
// (browsers say nothing more), and with an Error carrying the server's text on a refusal.
function reason(err) {
  if (err instanceof Event) {
    return "cannot reach the server (is it running?)";
  }
  return err.message || String(err);
}

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
        joinRoom(wantedRoom);
      }
    },
    _OnNamespaceDisconnect(ns, msg) {
      chat = null;  // closed: the next _OnNamespaceConnected brings the new one
      setStatus("disconnected, reconnecting…", false);
      setInputEnabled(false);
    },
    _OnRoomJoined(ns, msg) {
      joinedRoom = msg.Room;
      showRoom(msg.Room);
      setInputEnabled(true);
      $("text").focus();
    },
    _OnRoomLeft(ns, msg) {
      if (msg.Room === joinedRoom) {
        joinedRoom = null;
      }
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

function joinRoom(room) {
  roomChanges = roomChanges.then(() => changeRoom(room));
}

async function changeRoom(room) {
  if (chat === null || room === joinedRoom) {
    return;
  }
  setInputEnabled(false);
  $("room-error").textContent = "";
  try {
    const previous = joinedRoom === null ? undefined : chat.room(joinedRoom);
    if (previous !== undefined) {
      await previous.leave();
    }
    await chat.joinRoom(room);
  } catch (err) {
    const text = "could not join #" + room + ": " + reason(err);
    if (joinedRoom === null && room !== FIRST_ROOM) {
      await changeRoom(FIRST_ROOM);  // a refused room from the address: go where everyone is
    }
    $("room-error").textContent = text;
  }
}

async function start(name) {
  if (joining) {
    return;
  }
  joining = true;
  $("join").disabled = true;
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
    $("login-error").textContent = "could not join: " + reason(err);
    $("join").disabled = false;
    joining = false;
  }
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  start($("name").value.trim());
});

$("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  const room = chat && joinedRoom && chat.room(joinedRoom);
  if (text && room) {
    room.emit("OnChat", JSON.stringify({ text }));
    $("text").value = "";
  }
});

for (const button of document.querySelectorAll("#rooms button")) {
  button.addEventListener("click", () => joinRoom(button.dataset.room));
}

// http://127.0.0.1:8080/?name=alice joins at once; &room=python picks the first room
// (the heading shows it once the server accepted the join).
const params = new URLSearchParams(location.search);
wantedRoom = params.get("room") || FIRST_ROOM;
if (params.get("name")) {
  $("name").value = params.get("name");
  start(params.get("name"));
}
