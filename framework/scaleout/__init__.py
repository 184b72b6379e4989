"""Scale-out: several processes (nodes) serve one set of clients through a pub/sub broker.

`RedisExchange` and `NATSExchange` are the exchanges users give to `Server(exchange=...)`.
They are `BusExchange` (the cluster logic: `asks` and counts, `peers`, `presence`,
`numbering`) over a `Link` (one broker client, kept up by `session.BusSession` with its
`outgoing` queue); `envelope` is the format nodes exchange (docs/protocol.md#bus). A new
broker is one `Link` class and a factory for it.
`MemoryBroker` is a broker inside one process, for tests and in-process clusters.
"""

from .cluster import BusExchange, LinkFactory
from .link import HealthListener, Link, LinkSettings, OnCount, Outgoing
from .memory import MemoryBroker, MemoryLink
from .nats import NATSExchange
from .redis import RedisExchange

__all__ = [
    "BusExchange",
    "HealthListener",
    "Link",
    "LinkFactory",
    "LinkSettings",
    "MemoryBroker",
    "MemoryLink",
    "NATSExchange",
    "OnCount",
    "Outgoing",
    "RedisExchange",
]
