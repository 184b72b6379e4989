"""A server's index of its live connections: by connection, id, namespace and room.

`Server.broadcast`, `Server.ask` and `Server.close_connection` find their recipients here
(`targets`), and the connections keep it current through the server (their `Hub`). When a
namespace, a room or a connection id gets its first local member, or loses its last one,
the exchange is told (`Exchange.subscribe`/`unsubscribe`), so a cluster forwards to this
node only what it has recipients for; every join and leave of a namespace or room is told
to the node's presence (`LocalRoster.changed`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING

from .exchange import Exchange, Target
from .message import Message
from .presence import LocalRoster

if TYPE_CHECKING:
    from .conn import Conn
    from .ns_conn import NSConn


class Membership:
    """Who is connected to this server, and to which namespaces and rooms."""

    __slots__ = ("_by_id", "_exchange", "_members", "_rooms", "_roster", "conns")

    def __init__(self, exchange: Exchange, roster: LocalRoster) -> None:
        self._exchange = exchange
        self._roster = roster
        self.conns: dict[Conn, None] = {}
        """Every live connection, in the order they came."""
        self._by_id: dict[str, Conn | list[Conn]] = {}
        """The live connections by id: the connection itself, or a list of the connections that
        share an id (ids are usually unique: no list per connection)."""
        self._members: dict[str, dict[NSConn, None]] = {}
        self._rooms: dict[tuple[str, str], dict[NSConn, None]] = {}

    def connection(self, conn_id: str) -> Conn | None:
        """Give a live connection with id *conn_id*, or ``None``."""
        found = self._by_id.get(conn_id)
        return found[0] if isinstance(found, list) else found

    def namespace_connections(self, namespace: str) -> Collection[NSConn]:
        """Give every connection to *namespace*."""
        return self._members.get(namespace, {}).keys()

    @property
    def rooms(self) -> Mapping[tuple[str, str], Collection[NSConn]]:
        """Give every room with members, by namespace and room name: its members."""
        return self._rooms

    def with_id(self, conn_id: str) -> list[Conn]:
        """Give the live connections with id *conn_id* (usually one)."""
        return self._same_id(conn_id)

    def _same_id(self, conn_id: str) -> list[Conn]:
        found = self._by_id.get(conn_id)
        if found is None:
            return []
        return list(found) if isinstance(found, list) else [found]

    def targets(self, msg: Message) -> Iterable[NSConn]:
        """Give the namespace connections *msg* reaches: those with id ``msg.to`` (in its room,
        if any), else the members of ``msg.room``, else every connection to its namespace."""
        if msg.to:
            targets = []
            for conn in self._same_id(msg.to):
                ns_conn = conn.namespaces.get(msg.namespace)
                if ns_conn is not None and (not msg.room or msg.room in ns_conn.rooms):
                    targets.append(ns_conn)
            return targets
        if msg.room:
            return list(self._rooms.get((msg.namespace, msg.room), ()))
        return list(self._members.get(msg.namespace, ()))

    # -- keeping it current ----------------------------------------------------------

    def add(self, conn: Conn) -> None:
        """Index a new connection."""
        self.conns[conn] = None
        same_id = self._by_id.get(conn.id)
        if same_id is None:
            self._by_id[conn.id] = conn
            self._exchange.subscribe(Target.of_conn(conn.id))
        elif isinstance(same_id, list):
            same_id.append(conn)
        else:
            self._by_id[conn.id] = [same_id, conn]

    def remove(self, conn: Conn) -> None:
        """Forget a connection that ended."""
        self.conns.pop(conn, None)
        same_id = self._by_id.get(conn.id)
        if same_id is conn:
            del self._by_id[conn.id]
            self._exchange.unsubscribe(Target.of_conn(conn.id))
        elif isinstance(same_id, list) and conn in same_id:
            same_id.remove(conn)
            if len(same_id) == 1:
                self._by_id[conn.id] = same_id[0]

    def namespace_connected(self, ns_conn: NSConn) -> None:
        """Index *ns_conn* for delivery."""
        members = self._members.get(ns_conn.namespace)
        if members is None:
            members = self._members[ns_conn.namespace] = {}
            self._exchange.subscribe(Target.of_namespace(ns_conn.namespace))
        members[ns_conn] = None
        self._roster.changed("join", ns_conn.conn, ns_conn.namespace)

    def namespace_disconnected(self, ns_conn: NSConn) -> None:
        """Drop *ns_conn* from the delivery index."""
        members = self._members.get(ns_conn.namespace)
        if members is not None and members.pop(ns_conn, 0) is None:
            if not members:
                del self._members[ns_conn.namespace]
                self._exchange.unsubscribe(Target.of_namespace(ns_conn.namespace))
            self._roster.changed("leave", ns_conn.conn, ns_conn.namespace)

    def room_joined(self, ns_conn: NSConn, room: str) -> None:
        """Index *ns_conn* as a member of *room*."""
        key = (ns_conn.namespace, room)
        members = self._rooms.get(key)
        if members is None:
            members = self._rooms[key] = {}
            self._exchange.subscribe(Target.of_room(ns_conn.namespace, room))
        members[ns_conn] = None
        self._roster.changed("join", ns_conn.conn, ns_conn.namespace, room)

    def room_left(self, ns_conn: NSConn, room: str) -> None:
        """Drop *ns_conn* from *room*'s members."""
        key = (ns_conn.namespace, room)
        members = self._rooms.get(key)
        if members is not None and members.pop(ns_conn, 0) is None:
            if not members:
                del self._rooms[key]
                self._exchange.unsubscribe(Target.of_room(ns_conn.namespace, room))
            self._roster.changed("leave", ns_conn.conn, ns_conn.namespace, room)
