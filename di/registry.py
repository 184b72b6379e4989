"""`Registry`: the dependency-injector implementation of the controllers' `Injector` seam.

Registrations are read once (see `registrations`); each injection site is compiled
once into a resolver (see `resolvers`), so resolving per connection or per event is a
cache lookup, a provider call and the factory itself: no type matching, no graph walk.

Matching a requested type: an exact registration wins; else the one registration
whose type subclasses it; else, for a ``typing.Protocol``, the one registration that
has every member of the protocol. Several candidates are an
`AmbiguousDependencyError`, none a `MissingDependencyError`. Registering the same
type again replaces the earlier registration.

`Registry.override` replaces a registration for the length of a ``with`` block (tests),
through dependency-injector's own ``provider.override``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import typing
from collections.abc import Iterator
from types import FunctionType, MethodType
from typing import Any, cast

from dependency_injector import containers, providers, wiring

from aioneffos.controllers import (
    AmbiguousDependencyError,
    Dependency,
    MissingDependencyError,
    Resolver,
    Scope,
    type_name,
)

from .registrations import Kind, Registration, is_container, read_registration
from .resolvers import AppContext, Compiler

logger = logging.getLogger("aioneffos.di")

_MARKERS: tuple[type, ...] = cast(tuple[type, ...], (wiring.Provide, wiring.Provider, wiring.Closing))
_MISSING: Any = object()


class Registry:
    """Dependencies for controllers, backed by dependency-injector (an `Injector`).

    Use ``register`` to add static instances, factories, providers and containers;
    override any of them in tests with dependency-injector's own ``override``:
    ``with registry.override(Logger, FakeLogger()):`` (see `override`), or
    ``registry.provider(Logger).override(providers.Object(fake))``. Call `aclose` at
    shutdown (``aioneffos.di.Application`` does) to clean up app-scope resources.
    """

    def __init__(self) -> None:
        self._registrations: dict[Any, Registration] = {}
        self._containers: list[tuple[containers.Container, wiring.ProvidersMap]] = []
        self._app = AppContext()
        self._compiler = Compiler(self, self._app)

    def __repr__(self) -> str:
        return f"<Registry {sorted(map(type_name, self._registrations))} containers={len(self._containers)}>"

    # -- registering -----------------------------------------------------------

    def register(self, *dependencies: object, provides: Any = None, scope: Scope | None = None) -> None:
        """Register static instances, factories, providers or containers.

        *provides* names the type one dependency provides (when it cannot be inferred, or
        to register under a base type). *scope* pins a factory's lifetime: `Scope.APP`
        (once), `Scope.CONNECTION` (once per namespace connection, even when an event
        asks), `Scope.EVENT` (fresh per event; never in a controller attribute).
        Without it a factory runs once per injection context: per connection for an
        attribute, per event for an event parameter.
        Raise `InvalidRegistrationError` for what cannot be used.
        """
        if provides is not None and len(dependencies) != 1:
            raise TypeError("provides= names the type of exactly one dependency")
        for dependency in dependencies:
            if is_container(dependency):
                if scope is not None or provides is not None:
                    raise TypeError("a container is registered as it is: no provides= or scope=")
                container = cast(containers.Container, dependency)
                self._containers.append((container, wiring.ProvidersMap(container)))
                continue
            registration = read_registration(dependency, provides=provides, scope=scope)
            self._registrations[registration.key] = registration

    def provider(self, key: Any) -> providers.Provider[Any]:
        """Give the provider registered for exactly *key*, to override it in tests.

        Raise `LookupError` when nothing is registered under *key*.
        """
        registration = self._registrations.get(key)
        if registration is None:
            raise LookupError(f"nothing is registered as {type_name(key)}")
        return registration.provider

    @contextlib.contextmanager
    def override(self, key: Any, replacement: object) -> Iterator[None]:
        """Replace what provides *key* while the ``with`` block runs; restore it on exit.

        *key* is a type, found as controllers find it (exactly, by base class or by
        `Protocol`), or a dependency-injector provider (``container.mailer``). The
        *replacement* is a value (``FakeLogger()``), a factory called with no arguments
        where the original was resolved (``lambda: User("ann")``; a generator factory, whose
        code after ``yield`` is its cleanup, replaces only a factory), or a provider. It is
        dependency-injector's ``provider.override``, so overrides nest. It applies to what is
        resolved inside the block: connections (and events) that started before keep their
        values; an app-scope value already made is set aside and comes back on exit.

        Raise `MissingDependencyError` or `AmbiguousDependencyError` for *key* as a
        controller would get it, and `TypeError` for a factory that takes arguments.
        """
        if isinstance(key, providers.Provider):
            registration, provider = None, key
        else:
            registration = self.lookup(f"override({type_name(key)})", key)
            provider = registration.provider
        overriding = _overriding(key, replacement, registration)
        cache = self._app.cache
        kept = cache.pop(registration, _MISSING) if registration is not None else _MISSING
        try:
            with provider.override(overriding):
                yield
        finally:
            if registration is not None:
                cache.pop(registration, None)  # the replacement's app-scope value, if it made one
                if kept is not _MISSING:
                    cache[registration] = kept

    async def aclose(self) -> None:
        """Run the cleanups of app-scope factories and shut down registered ``Resource`` providers."""
        await self._app.close()
        for registration in self._registrations.values():
            if isinstance(registration.provider, providers.Resource) and registration.provider.initialized:
                result = registration.provider.shutdown()
                if inspect.isawaitable(result):
                    await result

    # -- the Injector seam ------------------------------------------------------

    def is_marker(self, value: object) -> bool:
        """Tell whether *value* is a dependency-injector marker (``Provide[...]``, ``Provider[...]``)."""
        return isinstance(value, _MARKERS)

    def resolver(self, dependency: Dependency) -> Resolver:
        """Compile the resolver of *dependency* (see the module docstring for the matching rules)."""
        return self._compiler.site(dependency)

    # -- lookups (used by the compiler) -----------------------------------------

    def lookup(self, site: str, annotation: Any) -> Registration:
        """Give the registration providing *annotation*; raise a `DependencyError` naming *site*."""
        try:
            exact = self._registrations.get(annotation)
        except TypeError:  # an unhashable annotation
            exact = None
        if exact is not None:
            return exact
        if isinstance(annotation, type):
            matches = [
                registration
                for registration in self._registrations.values()
                if isinstance(registration.key, type) and annotation in registration.key.__mro__
            ]
            if not matches and _is_protocol(annotation):
                members = _protocol_members(annotation)
                matches = [r for r in self._registrations.values() if _implements(r, members)]
            if len(matches) == 1:
                return matches[0]
            if matches:
                names = ", ".join(sorted(registration.label for registration in matches))
                raise AmbiguousDependencyError(
                    site,
                    annotation,
                    f"several registrations provide {type_name(annotation)}: {names}; "
                    "register the exact type, or use a Provide[...] marker",
                )
        raise MissingDependencyError(site, annotation, f"nothing registered provides {type_name(annotation)}")

    def marker_provider(self, site: str, annotation: Any, marker: Any) -> providers.Provider[Any]:
        """Give the provider a ``Provide[...]``/``Provider[...]`` marker names in a registered container."""
        if isinstance(marker, cast(type, wiring.Closing)):
            raise MissingDependencyError(
                site, annotation, f"{marker!r}: Closing[...] markers are not supported; register a generator"
            )
        found = []
        for _container, providers_map in self._containers:
            provider = providers_map.resolve_provider(marker.provider, marker.modifier)
            if provider is not None:
                found.append(provider)
        if not found:
            raise MissingDependencyError(site, annotation, f"no registered container provides {marker!r}")
        if len(found) > 1:
            raise AmbiguousDependencyError(
                site, annotation, f"several registered containers provide {marker!r}"
            )
        return found[0]


def _overriding(key: Any, replacement: object, registration: Registration | None) -> providers.Provider[Any]:
    """Give the provider that stands for *replacement* (see `Registry.override`)."""
    if isinstance(replacement, providers.Provider):
        return replacement
    if not isinstance(replacement, FunctionType | MethodType | type | functools.partial):
        return providers.Object(replacement)
    name = f"override({type_name(key)}, {getattr(replacement, '__qualname__', replacement)!r})"
    try:
        signature = inspect.signature(replacement)
    except (TypeError, ValueError):
        signature = None
    required = [
        param.name
        for param in (signature.parameters.values() if signature is not None else ())
        if param.default is param.empty and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
    ]
    if required:
        raise TypeError(
            f"{name}: an override's factory is called with no arguments, "
            f"and this one takes {', '.join(required)}; give a value, or a factory without parameters"
        )
    function = inspect.unwrap(replacement)
    if (inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function)) and (
        registration is None or registration.kind is not Kind.FACTORY
    ):
        raise TypeError(f"{name}: a generator factory replaces only a registered factory")
    return providers.Factory(replacement)


def _is_protocol(cls: type) -> bool:
    return bool(getattr(cls, "_is_protocol", False)) and cls is not typing.Protocol


def _protocol_members(protocol: type) -> frozenset[str]:
    members: set[str] = set()
    for base in protocol.__mro__:
        if base is typing.Protocol or base is typing.Generic or base is object or not _is_protocol(base):
            continue
        members.update(name for name in vars(base) if not name.startswith("_"))
        members.update(name for name in inspect.get_annotations(base) if not name.startswith("_"))
    return frozenset(members)


def _implements(registration: Registration, members: frozenset[str]) -> bool:
    """Tell whether what *registration* provides has every protocol member (checked on the
    registered instance, else on the class and its annotations)."""
    key = registration.key
    if not isinstance(key, type):
        return False
    target = registration.sample if registration.sample is not None else key
    annotated = {name for klass in key.__mro__ for name in inspect.get_annotations(klass)}
    return all(hasattr(target, name) or name in annotated for name in members)
