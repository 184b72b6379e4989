"""What `Registry.register` accepts, read once into `Registration` records.

* a **static instance**: matched by its type and base classes (app scope);
* a **factory**: a function or class whose typed parameters are resolved in turn; it may
  return a value, a coroutine, or be a (sync or async) generator whose code after
  ``yield`` is its cleanup;
* a **dependency-injector provider** (``Singleton``, ``Factory``, ``Resource``,
  ``Configuration`` with ``provides=``...), called at each resolution;
* a **container** instance, whose providers are reached through ``Provide[...]`` markers.
"""

from __future__ import annotations

import collections.abc
import enum
import functools
import inspect
import typing
from collections.abc import Callable
from types import FunctionType, MethodType
from typing import Any

import attrs
from dependency_injector import containers, providers, resources

from aioneffos.controllers import EMPTY, ControllerError, Scope, split_annotated, type_name

_YIELDING = {
    collections.abc.Iterator,
    collections.abc.Generator,
    collections.abc.Iterable,
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
    collections.abc.AsyncIterable,
}


class InvalidRegistrationError(ControllerError, TypeError):
    """``register`` was given something it cannot use as it was given."""


class Kind(enum.Enum):
    """What was registered."""

    INSTANCE = "instance"
    PROVIDER = "provider"
    FACTORY = "factory"


@attrs.frozen
class FactoryParameter:
    """One parameter of a factory, filled by keyword."""

    name: str
    annotation: Any
    metadata: tuple[object, ...]
    default: object


@attrs.define(eq=False)
class Registration:
    """One registered dependency; its identity keys the caches of resolved values."""

    key: Any
    """The type (or any hashable annotation) it provides."""
    kind: Kind
    provider: providers.Provider[Any]
    """The provider to call; overriding it (``.override(...)``) replaces the dependency."""
    label: str
    factory: Callable[..., Any] | None = None
    parameters: tuple[FactoryParameter, ...] = ()
    scope: Scope | None = None
    """A factory's pinned scope; ``None`` lets each injection site decide (its own scope)."""
    sample: object = None
    """The registered instance, for structural (Protocol) matching."""

    def __repr__(self) -> str:
        return f"<Registration {self.label} -> {type_name(self.key)}>"


def is_container(value: object) -> bool:
    """Tell whether *value* is a dependency-injector container instance."""
    return isinstance(value, containers.Container)


def read_registration(value: object, *, provides: Any = None, scope: Scope | None = None) -> Registration:
    """Read *value* into a `Registration`; raise `InvalidRegistrationError` when it cannot be used."""
    if isinstance(value, type) and issubclass(value, containers.DeclarativeContainer):
        raise InvalidRegistrationError(
            f"register a container instance ({value.__qualname__}()), not the class, so that "
            "its providers can be overridden"
        )
    if scope is not None and not isinstance(scope, Scope):
        raise InvalidRegistrationError(f"scope must be a Scope, got {scope!r}")
    if isinstance(value, providers.Provider):
        return _provider(value, provides, scope)
    if isinstance(value, FunctionType | MethodType | type | functools.partial):
        return _factory(value, provides, scope)
    if scope is not None and scope is not Scope.APP:
        raise InvalidRegistrationError(
            f"a {type(value).__qualname__} instance is one value for the whole application; "
            f"register a factory for the {scope.value} scope"
        )
    key = type(value) if provides is None else provides
    label = f"{type(value).__qualname__} instance"
    return Registration(key, Kind.INSTANCE, providers.Object(value), label, sample=value)


def _provider(provider: providers.Provider[Any], provides: Any, scope: Scope | None) -> Registration:
    label = type(provider).__name__
    if scope is not None:
        raise InvalidRegistrationError(f"a {label} provider keeps its own lifetime; scope= is for factories")
    key = provides if provides is not None else _provider_type(provider)
    if key is None:
        raise InvalidRegistrationError(
            f"cannot tell what type a {label} provider gives: pass provides=<type>, "
            "or reach it through a container and Provide[...]"
        )
    return Registration(key, Kind.PROVIDER, provider, f"{label}({type_name(key)})")


def _provider_type(provider: providers.Provider[Any]) -> Any:
    if isinstance(provider, providers.Configuration):  # an Object subclass whose value is a dict
        return None
    if isinstance(provider, providers.Object):
        return type(provider.provides)
    if isinstance(provider, providers.Dependency):
        instance_of = provider.instance_of
        return None if instance_of is object else instance_of
    provides = getattr(provider, "provides", None)
    if isinstance(provides, type):
        return None if issubclass(provides, resources.Resource) else provides
    if callable(provides):
        return _return_type(provides)
    return None


def _return_type(function: Callable[..., Any]) -> Any:
    """Give what *function* provides: its return annotation, unwrapped from ``Iterator[T]`` and the like."""
    function = inspect.unwrap(function)  # providers.Resource wraps generator functions
    try:
        hint = typing.get_type_hints(function).get("return")
    except Exception:
        return None
    if hint is None:
        return None
    if (inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function)) and (
        typing.get_origin(hint) in _YIELDING
    ):
        return typing.get_args(hint)[0]
    return hint


def _factory(factory: Callable[..., Any], provides: Any, scope: Scope | None) -> Registration:
    name = getattr(factory, "__qualname__", None) or repr(factory)
    label = f"{name}()"
    if isinstance(factory, type):
        key = factory if provides is None else provides
        target: Callable[..., Any] = factory.__init__  # type: ignore[misc]
    else:
        key = provides if provides is not None else _return_type(factory)
        target = factory
    if key is None:
        raise InvalidRegistrationError(f"{label}: annotate its return type, or pass provides=<type>")
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception as exc:
        raise InvalidRegistrationError(f"{label}: cannot resolve an annotation ({exc})") from exc
    parameters = []
    for param in inspect.signature(factory).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        has_default = param.default is not EMPTY
        if param.kind is param.POSITIONAL_ONLY and not has_default:
            raise InvalidRegistrationError(
                f"{name}({param.name}): positional-only parameters cannot be filled"
            )
        if param.kind is param.POSITIONAL_ONLY:
            continue
        hint = hints.get(param.name, EMPTY)
        if hint is EMPTY and not has_default:
            raise InvalidRegistrationError(f"{name}({param.name}): annotate it so that it can be resolved")
        annotation, metadata = split_annotated(hint)
        parameters.append(FactoryParameter(param.name, annotation, metadata, param.default))
    return Registration(
        key,
        Kind.FACTORY,
        providers.Factory(factory),
        label,
        factory=factory,
        parameters=tuple(parameters),
        scope=scope,
    )
