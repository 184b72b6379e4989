"""Compiling a controller: its methods and attributes become handlers and a factory, once.

Compiling checks everything a running server would trip over later: each event
method's signature, each dependency (through the injector), clashing event names.
`ControllerHandle` (the configuration half) calls it whenever its settings change; what
the compiled handlers run per message is in `runtime`.
"""

from __future__ import annotations

from collections.abc import Callable

from aioneffos.framework import ON_NAMESPACE_CONNECT, Handler

from .bodies import BodyCodec, body_decoder, is_body_type, reply_encoder
from .contract import attach, connect_contract, method_contract
from .errors import InvalidEventMethodError, MissingDependencyError
from .injection import Dependency, Injector, Scope, framework_resolver, message_of
from .matchers import EventMatcher
from .reflection import SYSTEM_METHODS, ControllerSpec, EventMethod, Parameter, event_method
from .runtime import Argument, ControllerFactory, connect_handler, event_handler
from .typing import EMPTY


class Compiler:
    """Compiles one controller with one event matcher and one injector.

    *key* is where each namespace connection keeps the controller instance (its
    ``store``); *namespace* gives the namespace to set on each instance (``None`` when the
    class has a ``namespace()`` method) and *timeout* the default ask timeout, both read
    per connection so a later ``set_namespace``/``set_timeouts`` applies.
    """

    def __init__(
        self,
        spec: ControllerSpec,
        key: str,
        matcher: EventMatcher,
        injector: Injector,
        codec: BodyCodec,
        namespace: Callable[[], str | None],
        timeout: Callable[[], float | None],
    ) -> None:
        self._spec = spec
        self._key = key
        self._matcher = matcher
        self._injector = injector
        self._codec = codec
        self._namespace = namespace
        self._timeout = timeout

    def compile(self) -> tuple[dict[str, Handler], bool]:
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

        seeds = tuple(spec.seeds.items())
        return ControllerFactory(spec.cls, seeds, tuple(names), tuple(plan), self._namespace, self._timeout)

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
