"""`ControllerHandle`: a registered controller (neffos ``*Struct``), configurable and a `ConnHandler`.

This is the configuration half (``set_namespace``, ``set_event_matcher``, ...); every
change recompiles through `compiler`, so errors are raised here, at start-up, never at
the first message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from aioneffos.framework import Handler

from .bodies import DEFAULT_CODEC, BodyCodec
from .compiler import Compiler
from .controller import Controller
from .errors import FrozenApplicationError, InvalidControllerError
from .injection import Injector, NoInjector
from .matchers import DEFAULT_MATCHER, EventMatcher
from .reflection import ControllerSpec, reflect


class ControllerHandle:
    """A controller registered with ``handle_websocket``; every setter returns the handle.

    It serves one namespace as a `ConnHandler` (so ``Server(handle)`` works on its own),
    and is merged with the others by its application. Configure it before a `Server`
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

    def _compile(self) -> tuple[dict[str, Handler], bool]:
        compiler = Compiler(
            self._spec,
            self._key,
            self._matcher,
            self._injector,
            self._codec,
            self._namespace_to_set,
            self._ask_timeout,
        )
        return compiler.compile()

    def _namespace_to_set(self) -> str | None:
        return None if self._spec.namespace_is_method else self._namespace

    def _ask_timeout(self) -> float | None:
        return self._timeout

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
    the one the application uses. Everything is checked as `BaseApplication.handle_websocket` does.
    """
    return ControllerHandle(
        reflect(controller),
        injector=injector if injector is not None else NoInjector(),
        codec=body_codec if body_codec is not None else DEFAULT_CODEC,
        event_matcher=event_matcher,
    )
