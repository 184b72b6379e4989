"""`ControllerHandle`: a registered controller (neffos ``*Struct``), configurable and a `ConnHandler`.

Compiling a controller checks everything a running server would trip over later:
each event method's signature, each dependency (through the injector), clashing event
names. Errors are raised here, at start-up, never at the first message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Self

from aioneffos.framework import ON_NAMESPACE_CONNECT, Handler

from .bodies import DEFAULT_CODEC, BodyCodec, body_decoder, is_body_type, reply_encoder
from .contract import attach, connect_contract, method_contract
from .controller import Controller
from .errors import (
    FrozenApplicationError,
    InvalidControllerError,
    InvalidEventMethodError,
    MissingDependencyError,
)
from .handlers import Argument, ControllerFactory, connect_handler, event_handler
from .injection import Dependency, Injector, NoInjector, Scope, framework_resolver, message_of
from .matchers import DEFAULT_MATCHER, EventMatcher
from .reflection import EMPTY, SYSTEM_METHODS, ControllerSpec, EventMethod, Parameter, event_method, reflect


class ControllerHandle:
    """A controller registered with ``handle_websocket``; every setter returns the handle.

    It serves one namespace as a `ConnHandler` (so ``Server(handle)`` works on its own),
    and is merged with the others by its `Application`. Configure it before a `Server`
    is built from it; later changes raise `FrozenApplicationError`.
    """

    def __init__(
        self,
        spec: ControllerSpec,
        *,
        injector: Injector,
        codec: BodyCodec,
        event_matcher: EventMatcher = DEFAULT_MATCHER,
    ) -> None:
        self._spec = spec
        self._injector = injector
        self._codec = codec
        self._namespace = spec.namespace
        self._matcher: EventMatcher = event_matcher
        self._timeout: float | None = None
        self._frozen = False
        self._key = f"aioneffos.controller:{spec.cls.__module__}.{spec.name}:{id(self):x}"
        """Where each namespace connection keeps this controller's instance (in ``ns_conn.store``)."""
        self._events, self._has_events = self._compile()

    def __repr__(self) -> str:
        events = sorted(self._events)
        return f"<ControllerHandle {self._spec.name} namespace={self._namespace!r} events={events}>"

    @property
    def controller(self) -> type[Any]:
        """Give the controller class."""
        return self._spec.cls

    @property
    def namespace(self) -> str:
        """Give the namespace this controller serves."""
        return self._namespace

    @property
    def events(self) -> Mapping[str, Handler]:
        """Give the compiled handlers, by event name."""
        return self._events

    @property
    def ask_timeout(self) -> float | None:
        """Give the default timeout of the controller's asks, or ``None`` for the server's."""
        return self._timeout

    # -- configuration (neffos Struct.Set*) -------------------------------------

    def set_namespace(self, namespace: str) -> Self:
        """Serve *namespace*, whatever the class says (neffos ``SetNamespace``)."""
        self._check_open()
        if not isinstance(namespace, str):
            raise TypeError(f"a namespace is a str, got {namespace!r}")
        self._namespace = namespace
        return self

    def set_event_matcher(self, matcher: EventMatcher) -> Self:
        """Choose which methods are events and their names (neffos ``SetEventMatcher``); recompiles."""
        return self._recompile(matcher, self._injector)

    def set_timeouts(self, *, ask: float | None = None) -> Self:
        """Set the default timeout of the controller's ``ask``, ``join_room``, ``leave_room`` and
        ``disconnect``.

        neffos's read and write deadlines are server-wide here: see `Options.read_timeout`
        and `Options.close_timeout`, since one connection serves several namespaces.
        """
        self._check_open()
        if ask is not None and ask <= 0:
            raise ValueError(f"ask timeout must be > 0, got {ask!r}")
        self._timeout = ask
        return self

    def set_injector(self, injector: Injector) -> Self:
        """Resolve dependencies with *injector* instead (neffos ``SetInjector``); recompiles."""
        return self._recompile(self._matcher, injector)

    def get_namespaces(self) -> Mapping[str, Mapping[str, Handler]]:
        """Give ``{namespace: events}`` (the `ConnHandler` protocol); freezes the handle.

        Raise `InvalidControllerError` when no method is an event: the check waits until
        now so that ``handle_websocket(C).set_event_matcher(...)`` can pick them first.
        """
        if not self._has_events:
            spec = self._spec
            raise InvalidControllerError(
                f"{spec.name}: no event methods; define `async def On...(self, msg)` methods, or pick "
                f"them with `.set_event_matcher(...)` (methods are matched by {self._matcher!r}; "
                f"neffos's NewStruct default, every public method, is `event_all_matcher()`)"
            )
        self._frozen = True
        return {self._namespace: self._events}

    def _recompile(self, matcher: EventMatcher, injector: Injector) -> Self:
        """Compile with *matcher* and *injector*; on failure keep the previous ones."""
        self._check_open()
        previous = self._matcher, self._injector
        self._matcher, self._injector = matcher, injector
        try:
            self._events, self._has_events = self._compile()
        except BaseException:
            self._matcher, self._injector = previous
            raise
        return self

    def _check_open(self) -> None:
        if self._frozen:
            raise FrozenApplicationError(
                f"{self._spec.name}: configure the controller before a Server is built from it"
            )

    # -- compiling --------------------------------------------------------------

    def _compile(self) -> tuple[dict[str, Handler], bool]:
        """Compile the methods into handlers; tell whether any method (system ones too) is an event."""
        spec = self._spec
        factory = self._factory()
        encode = reply_encoder(self._codec)
        events: dict[str, Handler] = {}
        sources: dict[str, str] = {}
        for method_name, raw in spec.methods.items():
            event = self._matcher(method_name)
            if event is None:
                continue
            if not isinstance(event, str) or not event:
                raise InvalidEventMethodError(
                    f"{spec.name}.{method_name}: the event matcher gave {event!r}, not an event name"
                )
            self._claim(sources, event, method_name)
            events[event] = self._event_handler(event, event_method(spec, method_name, raw), encode)
        user_connect = None
        connect_hook = None
        for method_name, raw in spec.system_methods.items():
            event = SYSTEM_METHODS[method_name]
            self._claim(sources, event, method_name)
            method = event_method(spec, method_name, raw)
            handler = self._event_handler(event, method, encode)
            if event == ON_NAMESPACE_CONNECT:
                user_connect, connect_hook = handler, method.function
            else:
                events[event] = handler
        connect = connect_handler(self._key, factory, user_connect)
        events[ON_NAMESPACE_CONNECT] = attach(connect, connect_contract(spec.cls, connect_hook, self._codec))
        return events, bool(sources)

    def _claim(self, sources: dict[str, str], event: str, method_name: str) -> None:
        other = sources.setdefault(event, method_name)
        if other != method_name:
            raise InvalidEventMethodError(
                f"{self._spec.name}.{method_name}: event {event!r} is already answered by {other}"
            )

    def _factory(self) -> ControllerFactory:
        spec = self._spec
        names: list[str] = []
        plan: list[Argument] = []
        for attribute in spec.attributes:
            if attribute.name in spec.seeds:
                continue
            marker = self._marker(attribute.metadata, attribute.default)
            if marker is None and attribute.default is not EMPTY:
                continue  # a plain class-level value, not a dependency
            site = f"{spec.name}.{attribute.name}"
            dependency = Dependency(site, attribute.annotation, Scope.CONNECTION, marker)
            builtin = None if marker is not None else framework_resolver(dependency)
            names.append(attribute.name)
            if builtin is not None:
                plan.append(Argument(builtin, False))
            else:
                plan.append(Argument(self._injector.resolver(dependency), True))

        def namespace() -> str | None:
            return None if spec.namespace_is_method else self._namespace

        def timeout() -> float | None:
            return self._timeout

        seeds = tuple(spec.seeds.items())
        return ControllerFactory(spec.cls, seeds, tuple(names), tuple(plan), namespace, timeout)

    def _event_handler(self, event: str, method: EventMethod, encode: Callable[[object], object]) -> Handler:
        positional: list[Argument] = []
        keywords: list[tuple[str, Argument]] = []
        by_keyword = False
        bodies = []
        body_type = None
        for param in method.parameters:
            argument, is_body = self._argument(method, param)
            if argument is None:
                by_keyword = True  # the default applies; later parameters go by name
                continue
            if is_body:
                bodies.append(param.name)
                body_type = param.annotation
            if param.keyword_only or by_keyword:
                keywords.append((param.name, argument))
            else:
                positional.append(argument)
        if len(bodies) > 1:
            raise InvalidEventMethodError(
                f"{self._spec.name}.{method.name}: only one parameter can receive the body, got {bodies}"
            )
        message_only = not keywords and len(positional) == 1 and positional[0].resolve is message_of
        handler = event_handler(
            self._key, method.function, tuple(positional), tuple(keywords), encode, message_only=message_only
        )
        contract = method_contract(event, self._spec.cls, method.function, body_type, self._codec)
        return attach(handler, contract)

    def _argument(self, method: EventMethod, param: Parameter) -> tuple[Argument | None, bool]:
        """Compile one parameter: the message, a framework value, a dependency, or the typed body.

        Give ``(argument, is_body)``; the argument is ``None`` when nothing provides the
        parameter but it has a default.
        """
        site = f"{self._spec.name}.{method.name}({param.name})"
        marker = self._marker(param.metadata, param.default)
        if marker is None and param.annotation is EMPTY:
            return Argument(message_of, False), False
        dependency = Dependency(site, param.annotation, Scope.EVENT, marker)
        if marker is None:
            builtin = framework_resolver(dependency)
            if builtin is not None:
                return Argument(builtin, False), False
        try:
            return Argument(self._injector.resolver(dependency), True), False
        except MissingDependencyError:
            if marker is not None:
                raise
            if is_body_type(param.annotation):
                return Argument(body_decoder(param.annotation, self._codec), False), True
            if param.default is not EMPTY:
                return None, False
            raise

    def _marker(self, metadata: tuple[object, ...], default: object) -> object:
        is_marker = self._injector.is_marker
        for item in metadata:
            if is_marker(item):
                return item
        return default if default is not EMPTY and is_marker(default) else None


def handle_websocket(
    controller: type[Controller] | Controller,
    *,
    event_matcher: EventMatcher = DEFAULT_MATCHER,
    injector: Injector | None = None,
    body_codec: BodyCodec | None = None,
) -> ControllerHandle:
    """Register a controller without an MVC application or aiohttp app (neffos ``NewStruct``).

    The handle is a `ConnHandler` on its own: serve it with ``Server(handle)``, or give it
    to a client, ``await dial(url, handle)``, where its methods answer what the server
    sends. *injector* defaults to `NoInjector` (framework values only), *body_codec* to
    the one `Application` uses. Everything is checked as `Application.handle_websocket` does.
    """
    return ControllerHandle(
        reflect(controller),
        injector=injector if injector is not None else NoInjector(),
        codec=body_codec if body_codec is not None else DEFAULT_CODEC,
        event_matcher=event_matcher,
    )
