"""`join_conn_handlers`: serve several connection handlers (MVC applications, controllers, dicts) as one."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from aioneffos.framework import (
    ConnHandler,
    Events,
    Handler,
    Message,
    Namespaces,
    NSConn,
    is_system_event,
)

from .contract import EventContract, attach, attached
from .errors import ConflictingEventError

HandlerSource = ConnHandler | Mapping[str, Mapping[str, Handler]]


def join_conn_handlers(*handlers: HandlerSource) -> Namespaces:
    """Merge the namespaces of *handlers* (neffos ``JoinConnHandlers``).

    User events must be unique per namespace: a clash raises `ConflictingEventError`
    (neffos silently keeps the last one). The seven system events are hooks every
    participant needs, so they are chained in order; the first that raises stops the
    chain and refuses the request (the framework then runs the cleanups deferred by the
    hooks that already ran).
    """
    events: dict[str, dict[str, Handler]] = {}
    hooks: dict[tuple[str, str], list[Handler]] = {}
    for source in handlers:
        namespaces = source.get_namespaces() if isinstance(source, ConnHandler) else source
        for namespace, table in namespaces.items():
            merged = events.setdefault(namespace, {})
            for event, handler in table.items():
                if is_system_event(event):
                    hooks.setdefault((namespace, event), []).append(handler)
                elif event in merged:
                    raise ConflictingEventError(namespace, event)
                else:
                    merged[event] = handler
    for (namespace, event), chain in hooks.items():
        if len(chain) == 1:
            events[namespace][event] = chain[0]
            continue
        contracts: tuple[EventContract, ...] = ()
        for hook in chain:  # the documentation of every part survives the chaining
            contracts += attached(hook) or ()
        events[namespace][event] = attach(_chain(tuple(chain)), *contracts)
    return Namespaces({namespace: Events(table) for namespace, table in events.items()})


def _chain(chain: tuple[Handler, ...]) -> Handler:
    async def run(ns: NSConn, msg: Message) -> None:
        for handler in chain:
            result = handler(ns, msg)
            if inspect.isawaitable(result):
                await result

    return run
