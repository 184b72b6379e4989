"""The scale-out chat: one namespace whose every feature crosses nodes through the exchange."""

from __future__ import annotations

import json
from typing import Any, Literal, TypedDict

from aiohttp import web

from aioneffos.controllers import emits
from aioneffos.framework import (
    Exchange,
    LocalExchange,
    Message,
    NSConn,
    PresenceEvent,
    Server,
    handler,
    setup,
)
from aioneffos.framework.scaleout import BusExchange
from samples.common import add_neffos_js, page

from . import PAGE

NAMESPACE = "chat"
KICK_CODE = 4000
"""Close code of a kicked connection (4000-4999 are free for applications)."""
SYNC_TIMEOUT = 5.0


def exchange_from_url(url: str, **options: Any) -> Exchange:
    """Make the exchange *url* names: ``redis://``, ``rediss://``, ``nats://``, ``tls://``, ``""`` (local)."""
    if not url:
        return LocalExchange()
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("redis", "rediss", "unix"):
        from aioneffos.framework.scaleout import RedisExchange

        return RedisExchange(url, **options)
    if scheme in ("nats", "tls"):
        from aioneffos.framework.scaleout import NATSExchange

        return NATSExchange(url, **options)
    raise ValueError(f"unknown exchange URL {url!r}: use redis://host:port or nats://host:port")


# The bodies the server sends, for the AsyncAPI document ("from" is a keyword: functional syntax).
Said = TypedDict("Said", {"from": str, "text": str})
"""A chat line as sent to the others: who said it, and what."""
Poked = TypedDict("Poked", {"from": str})
"""A poke as asked of its target: who pokes."""


class BrokerState(TypedDict):
    """Whether this node reaches the other nodes through its broker."""

    broker: Literal["up", "down"]


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def make_server(exchange: Exchange) -> Server:
    """Build the chat `Server` on *exchange*."""
    server: Server

    async def hello(ns: NSConn, _: Message) -> dict[str, Any]:
        """Answer once this node's subscriptions (namespace, rooms, your id) are live cluster-wide.

        Ask it after connecting and after joining a room. (A greeting pushed from
        ``_OnNamespaceConnected`` could reach a client before it has registered the
        namespace, when both frames arrive in one read; neffos.js then drops it.)
        """
        synced = await server.exchange.synced(SYNC_TIMEOUT)
        return {"id": ns.conn.id, "node": server.node_id, "synced": synced, "rooms": sorted(ns.rooms)}

    @emits("chat", Said, summary="What someone said to the whole namespace.")
    def chat(ns: NSConn, msg: Message) -> None:
        """Send the text to everyone else in the namespace, on every node."""
        ns.broadcast("chat", {"from": ns.conn.id, "text": msg.text}, exclude_self=True)

    @emits("say", Said, summary="What someone said in your room.")
    def say(ns: NSConn, msg: Message) -> None:
        """Send the text to everyone else in the sender's room (``room.emit("say", text)``)."""
        if msg.room:
            ns.broadcast("say", {"from": ns.conn.id, "text": msg.text}, room=msg.room, exclude_self=True)

    @emits("whisper", Said, summary="What someone whispered to you.")
    def whisper(ns: NSConn, msg: Message) -> None:
        """Send ``{"to": id, "text": ...}`` to the connection(s) with that id, wherever they are."""
        data = msg.json()
        body = _json({"from": ns.conn.id, "text": data["text"]})
        server.broadcast(Message(NAMESPACE, "whisper", body, to=data["to"]))

    @emits("poke", Poked, reply=bytes, summary="Someone pokes you; your answer goes back to them.")
    async def poke(ns: NSConn, msg: Message) -> bytes:
        """Ask the connection whose id is the body, wherever it is, and give its answer."""
        reply = await server.ask(Message(NAMESPACE, "poke", _json({"from": ns.conn.id}), to=msg.text))
        return reply.body

    def kick(ns: NSConn, msg: Message) -> str:
        """Close the connection(s) whose id is the body, wherever they are."""
        server.close_connection(msg.text, code=KICK_CODE, reason=f"kicked by {ns.conn.id}")
        return "kicked"

    async def online(_: NSConn, __: Message) -> str:
        """Give the number of connections of the whole cluster, marked stale when some nodes
        did not answer in time (or the broker is down) and their last known counts were used."""
        count = await server.cluster_total_connections()
        return f"{count} (stale)" if count.stale else str(count)

    async def who(_: NSConn, msg: Message) -> dict[str, Any]:
        """Give who is connected, on every node: the namespace, or the room named by the body,
        with per-room counts (``stale`` when this node may not know the latest)."""
        presence = await server.presence(NAMESPACE, msg.text or None)
        members = [{"id": member.id, "node": member.node} for member in presence]
        return {"members": members, "rooms": dict(presence.rooms), "stale": presence.stale}

    async def invite(_: NSConn, msg: Message) -> str:
        """Make the connection ``{"id": ..., "room": ...}`` join that room, wherever it is."""
        data = msg.json()
        return str(await server.join_room(data["id"], NAMESPACE, data["room"]))

    @emits("system", BrokerState, summary="Pushed when this node loses or regains its broker.")
    def health(_: NSConn, __: Message) -> str:
        """Tell whether this node reaches the others (``up``, or ``degraded`` while its bus
        queue backs up) or only its own clients (``down``)."""
        return server.exchange.health.value

    events = {
        "hello": hello,
        "chat": chat,
        "say": say,
        "whisper": whisper,
        "poke": poke,
        "kick": kick,
        "online": online,
        "health": health,
        "who": who,
        "invite": invite,
    }
    server = Server({NAMESPACE: events}, exchange=exchange)

    def tell_health(up: bool) -> None:
        # Local delivery only: these clients learn that other nodes are (un)reachable.
        server.deliver(Message(NAMESPACE, "system", _json({"broker": "up" if up else "down"})))

    def tell_presence(event: PresenceEvent) -> None:
        # Every node hears every change once: its own clients learn it from it.
        data = {"kind": event.kind, "id": event.member.id, "node": event.member.node, "room": event.room}
        server.deliver(Message(NAMESPACE, "presence", _json(data)))

    if isinstance(exchange, BusExchange):
        exchange.add_health_listener(tell_health)
    server.add_presence_listener(tell_presence)
    return server


def make_app(server: Server) -> web.Application:
    """Mount *server* at ``/ws`` with the browser page at ``/``."""
    app = web.Application()
    app.router.add_get("/", page(PAGE))
    add_neffos_js(app)
    app.router.add_get("/ws", handler(server))
    setup(app, server)
    return app
