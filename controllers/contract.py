"""What a server's handlers promise: declared emits, and the contract each compiled handler carries.

Controllers know at registration every event, typed body and typed reply; compiling a
controller attaches that knowledge to each handler it makes (`attach`), so it survives
``join_conn_handlers`` and reaches the `Server`'s tables. Plain handlers are read from
their type hints and docstrings (`infer`). What the server *sends* cannot be read from
code; `emits` declares it. `gather` turns a server's tables into `NamespaceContract`
values, which ``aioneffos.controllers.asyncapi`` renders. Nothing here runs per message.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, TypeVar

import attrs

from aioneffos.framework import (
    ON_ANY_EVENT,
    ON_NAMESPACE_CONNECT,
    ON_NATIVE_MESSAGE,
    Handler,
    Reply,
    is_system_event,
)

from .bodies import BodyCodec

CONTRACT_ATTRIBUTE = "__aioneffos_contract__"
"""Where a compiled handler keeps its contracts (a tuple: a joined hook has several)."""
EMITS_ATTRIBUTE = "__aioneffos_emits__"
"""Where `emits` keeps its declarations on a function or class."""

T = TypeVar("T")


@attrs.frozen
class Emit:
    """An event the server sends: its name, its body type, and the reply type when it is an ask.

    *body* and *reply* are types: ``str`` (text), ``bytes`` (binary), an attrs class or a
    JSON type such as ``list[Item]`` (JSON); ``None`` leaves the body undescribed and, for
    *reply*, makes the event a plain emit rather than an ask.
    """

    event: str
    body: Any = None
    reply: Any = None
    summary: str = ""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.event, str) or not self.event:
            raise ValueError(f"an emitted event needs a non-empty name, got {self.event!r}")


def emits(event: str, body: Any = None, *, reply: Any = None, summary: str = "") -> Callable[[T], T]:
    """Declare that the decorated handler, controller method or controller class sends *event*.

    Only documentation reads it (the AsyncAPI ``send`` operations): sending is unchanged.
    Stack several; with *reply* the server asks (``ns.ask``) and the peer answers that
    type. On a class, it covers the controller's namespace.
    """
    declaration = Emit(event, body, reply, summary)

    def declare(target: T) -> T:
        if isinstance(target, type):
            existing = vars(target).get(EMITS_ATTRIBUTE, ())
        else:
            existing = getattr(target, EMITS_ATTRIBUTE, ())
        setattr(target, EMITS_ATTRIBUTE, (declaration, *existing))
        return target

    return declare


def declared_emits(target: object) -> tuple[Emit, ...]:
    """Give the `emits` declarations of a function, or of a class and its bases."""
    if isinstance(target, type):
        found: list[Emit] = []
        for klass in target.__mro__:
            found.extend(vars(klass).get(EMITS_ATTRIBUTE, ()))
        return tuple(found)
    declared: tuple[Emit, ...] = getattr(target, EMITS_ATTRIBUTE, ())
    return declared


@attrs.frozen
class EventContract:
    """What one handler of one event promises."""

    event: str
    """The event name on the wire."""
    source: str
    """Where it is answered: ``"ChatController.OnChat"`` or a function's qualified name."""
    doc: str = ""
    body: Any = None
    """The body type the handler decodes, or ``None`` when it reads the raw message."""
    reply: Any = None
    """The reply type when asked, or ``None`` when nothing is described."""
    emits: tuple[Emit, ...] = ()
    owner: str = ""
    """The controller class serving the namespace, if any."""
    owner_doc: str = ""
    codec: BodyCodec | None = None
    """How the body and reply types become JSON Schema; ``None``: the default codec."""


def attach(handler: Handler, *contracts: EventContract) -> Handler:
    """Record *contracts* on a compiled *handler* (a function made at registration); give it back."""
    setattr(handler, CONTRACT_ATTRIBUTE, contracts)
    return handler


def attached(handler: Handler) -> tuple[EventContract, ...] | None:
    """Give the contracts recorded on *handler*, or ``None`` when it carries none."""
    found: tuple[EventContract, ...] | None = getattr(handler, CONTRACT_ATTRIBUTE, None)
    return found


def method_contract(
    event: str,
    cls: type,
    function: Callable[..., Any],
    body: Any,
    codec: BodyCodec,
) -> EventContract:
    """Make the contract of controller method *function* answering *event*."""
    return EventContract(
        event=event,
        source=f"{cls.__qualname__}.{function.__name__}",
        doc=inspect.getdoc(function) or "",
        body=body,
        reply=reply_type(_return_hint(function)),
        emits=(*declared_emits(function), *declared_emits(cls)),
        owner=cls.__qualname__,
        owner_doc=_own_doc(cls),
        codec=codec,
    )


def connect_contract(cls: type, hook: Callable[..., Any] | None, codec: BodyCodec) -> EventContract:
    """Make the contract of a controller's ``_OnNamespaceConnect`` (with its ``OnNamespaceConnect``)."""
    source = f"{cls.__qualname__}.{hook.__name__}" if hook is not None else cls.__qualname__
    return EventContract(
        event=ON_NAMESPACE_CONNECT,
        source=source,
        doc=(inspect.getdoc(hook) or "") if hook is not None else "",
        emits=declared_emits(cls),
        owner=cls.__qualname__,
        owner_doc=_own_doc(cls),
        codec=codec,
    )


def infer(event: str, handler: Handler) -> EventContract:
    """Read the contract of a plain handler from its docstring and return annotation."""
    function = _callable_of(handler)
    return EventContract(
        event=event,
        source=getattr(function, "__qualname__", type(function).__qualname__),
        doc=inspect.getdoc(function) or "",
        reply=reply_type(_return_hint(function)),
        emits=declared_emits(handler),
    )


def _callable_of(handler: Handler) -> Callable[..., Any]:
    while isinstance(handler, functools.partial):
        handler = handler.func
    if inspect.isfunction(handler) or inspect.ismethod(handler):
        return handler
    call = getattr(type(handler), "__call__", None)  # noqa: B004 - a callable object's method
    return call if call is not None else handler


def _own_doc(cls: type) -> str:
    doc = vars(cls).get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _return_hint(function: Callable[..., Any]) -> Any:
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # an annotation that cannot be resolved: nothing can be described
        return None
    return hints.get("return")


def reply_type(hint: Any) -> Any:
    """Normalise a return annotation into the described reply type, or ``None``.

    ``None``, ``Any``, ``object`` and a missing hint describe nothing; ``X | None`` is
    ``X`` (``None`` is an empty reply); an awaitable of ``X`` is ``X``; `Reply` is bytes.
    """
    if hint is None or hint is type(None) or hint is Any or hint is object:
        return None
    origin = typing.get_origin(hint)
    if origin in (Awaitable, Coroutine):
        return reply_type(typing.get_args(hint)[-1])
    if origin in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(rest) == 1:
            return reply_type(rest[0])
        return functools.reduce(lambda a, b: a | b, rest)
    if hint is Reply:
        return bytes
    return hint


@attrs.frozen
class NamespaceContract:
    """What one namespace of a server promises."""

    name: str
    events: tuple[EventContract, ...]
    """The events a peer may send, one contract each (``_OnAnyEvent`` included)."""
    hooks: Mapping[str, tuple[EventContract, ...]]
    """The user hooks of system events, by system event name."""
    emits: tuple[tuple[Emit, BodyCodec | None], ...]
    """What the server sends, each event once, with the codec describing its types."""
    native: bool
    """Whether raw websocket frames (native messages) are handled here."""
    owners: tuple[tuple[str, str], ...] = ()
    """The controllers serving this namespace with their docstrings, in registration order."""


def gather(
    handlers: Mapping[str, Mapping[str, Handler]], extra: Mapping[str, Iterable[Emit]] | None = None
) -> list[NamespaceContract]:
    """Read the contracts of every namespace in *handlers*; *extra* adds emits by namespace."""
    extra = extra or {}
    unknown = set(extra) - set(handlers)
    if unknown:
        raise KeyError(f"emits given for namespaces the server does not serve: {sorted(unknown)}")
    namespaces = []
    for name, table in handlers.items():
        events: list[EventContract] = []
        hooks: dict[str, tuple[EventContract, ...]] = {}
        emitted: dict[str, tuple[Emit, BodyCodec | None]] = {}
        owners: dict[str, str] = {}
        for event, handler in table.items():
            contracts = attached(handler)
            if contracts is None:
                contracts = () if event == ON_NATIVE_MESSAGE else (infer(event, handler),)
            if is_system_event(event):
                hooks[event] = contracts
            elif event != ON_NATIVE_MESSAGE:
                events.extend(contracts)
            for contract in contracts:
                if contract.owner:
                    owners.setdefault(contract.owner, contract.owner_doc)
                for emit in contract.emits:
                    emitted.setdefault(emit.event, (emit, contract.codec))
            if event == ON_NATIVE_MESSAGE:
                for emit in declared_emits(handler):
                    emitted.setdefault(emit.event, (emit, None))
        for emit in extra.get(name, ()):
            if not isinstance(emit, Emit):
                raise TypeError(f"emits of namespace {name!r}: expected Emit values, got {emit!r}")
            emitted.setdefault(emit.event, (emit, None))
        events.sort(key=lambda contract: (contract.event == ON_ANY_EVENT, contract.event))
        native = ON_NATIVE_MESSAGE in table
        emitted_list = tuple(emitted.values())
        owned = tuple(owners.items())
        namespaces.append(NamespaceContract(name, tuple(events), hooks, emitted_list, native, owned))
    return namespaces
