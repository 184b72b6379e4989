"""aioneffos.controllers: Iris-style MVC websocket controllers on top of the socket layer.

A `Controller` subclass's ``On*`` coroutine methods become the events of a namespace;
`BaseApplication.handle_websocket` reflects over it once and compiles its handlers, and
the application is a `ConnHandler` for `Server`. Dependencies come through the
`Injector` seam defined here; ``aioneffos.di`` implements it with dependency-injector
(this package never imports it), and ``aioneffos.mvc.Application`` is the application
users import.
"""

from .application import BaseApplication, PrefixedRouter
from .bodies import BodyCodec
from .contract import Emit, emits
from .controller import Controller
from .errors import (
    AmbiguousDependencyError,
    BodyDecodeError,
    CircularDependencyError,
    ConflictingEventError,
    ContractError,
    ControllerError,
    DependencyError,
    FrozenApplicationError,
    InvalidControllerError,
    InvalidEventMethodError,
    MissingDependencyError,
    ScopeMismatchError,
)
from .handle import ControllerHandle, handle_websocket
from .injection import (
    ConnectionContext,
    Dependency,
    EventContext,
    InjectionContext,
    Injector,
    NoInjector,
    Resolver,
    Scope,
    framework_resolver,
)
from .join import join_conn_handlers
from .matchers import (
    EventMatcher,
    event_all_matcher,
    event_exact_matcher,
    event_prefix_matcher,
    event_trim_prefix_matcher,
)
from .reflection import SYSTEM_METHODS
from .typing import EMPTY, is_awaitable, split_annotated, type_name

__all__ = [
    "EMPTY",
    "SYSTEM_METHODS",
    "AmbiguousDependencyError",
    "BaseApplication",
    "BodyCodec",
    "BodyDecodeError",
    "CircularDependencyError",
    "ConflictingEventError",
    "ConnectionContext",
    "ContractError",
    "Controller",
    "ControllerError",
    "ControllerHandle",
    "Dependency",
    "DependencyError",
    "Emit",
    "EventContext",
    "EventMatcher",
    "FrozenApplicationError",
    "InjectionContext",
    "Injector",
    "InvalidControllerError",
    "InvalidEventMethodError",
    "MissingDependencyError",
    "NoInjector",
    "PrefixedRouter",
    "Resolver",
    "Scope",
    "ScopeMismatchError",
    "emits",
    "event_all_matcher",
    "event_exact_matcher",
    "event_prefix_matcher",
    "event_trim_prefix_matcher",
    "framework_resolver",
    "handle_websocket",
    "is_awaitable",
    "join_conn_handlers",
    "split_annotated",
    "type_name",
]
