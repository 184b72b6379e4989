"""Compiling registrations into resolvers, once per injection site, with their scopes and cleanups.

A factory's value lives in a scope: `Scope.APP` (cached on the registry), the
namespace connection (cached in its `ConnectionContext`), or one event (cached in its
`EventContext`); an unpinned factory takes the scope of the site that asks for it. A
generator factory yields its value; the code after ``yield`` runs when that scope
ends: at event end, at namespace disconnect, or at `Registry.aclose`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, Awaitable, Generator
from types import AsyncGeneratorType, GeneratorType
from typing import TYPE_CHECKING, Any, cast

from dependency_injector import wiring

from aioneffos.controllers import (
    EMPTY,
    CircularDependencyError,
    Dependency,
    InjectionContext,
    MissingDependencyError,
    Resolver,
    Scope,
    ScopeMismatchError,
    framework_resolver,
    is_awaitable,
)
from aioneffos.framework import Cleanup, run_cleanups

from .registrations import FactoryParameter, Kind, Registration

if TYPE_CHECKING:
    from .registry import Registry

_MISSING: Any = object()
_GENERATORS = frozenset({GeneratorType, AsyncGeneratorType})


class AppContext(InjectionContext):
    """The context of app-scope values: cached for the registry's life, cleaned up by `close`."""

    __slots__ = ("_cleanups",)

    def __init__(self) -> None:
        self.message = None
        self.connection = self
        self.cache = {}
        self._cleanups: list[Cleanup] = []

    def defer(self, cleanup: Cleanup) -> None:
        """Run *cleanup* at `close`."""
        self._cleanups.append(cleanup)

    async def close(self) -> None:
        """Run the cleanups, last first, and forget every cached value."""
        await run_cleanups(self._cleanups, "app scope")
        self.cache.clear()


class Compiler:
    """Turns registrations into resolvers for the `Registry`."""

    def __init__(self, registry: Registry, app: AppContext) -> None:
        self._registry = registry
        self._app = app

    def site(self, dependency: Dependency) -> Resolver:
        """Compile the resolver of one controller injection site."""
        if dependency.marker is not None:
            return self._marker(dependency.site, dependency.annotation, dependency.marker)
        registration = self._registry.lookup(dependency.site, dependency.annotation)
        return self._registration(registration, dependency.site, dependency.scope, ())

    def _marker(self, site: str, annotation: Any, marker: object) -> Resolver:
        provider = self._registry.marker_provider(site, annotation, marker)
        if isinstance(marker, cast(type, wiring.Provider)):
            return lambda ctx: provider
        return lambda ctx: provider()

    def _registration(
        self, registration: Registration, site: str, scope: Scope, stack: tuple[Registration, ...]
    ) -> Resolver:
        if registration.kind is not Kind.FACTORY:
            provider = registration.provider
            return lambda ctx: provider()
        lifetime = registration.scope or scope
        if scope.outlives(lifetime):
            raise ScopeMismatchError(
                site,
                registration.key,
                f"{registration.label} is {lifetime.value}-scoped and cannot be kept "
                f"in a {scope.value}-scoped place",
            )
        if registration in stack:
            cycle = " -> ".join(r.label for r in (*stack, registration))
            raise CircularDependencyError(site, registration.key, f"dependency cycle: {cycle}")
        steps = []
        for parameter in registration.parameters:
            where = f"{site} -> {registration.label[:-2]}({parameter.name})"
            resolve = self._parameter(parameter, where, lifetime, (*stack, registration))
            if resolve is not None:
                steps.append((parameter.name, resolve))
        build = _builder(registration, tuple(steps))
        if lifetime is Scope.APP:
            return _app_scoped(registration, build, self._app)
        if not steps:
            return _context_scoped_bare(registration, pinned=lifetime is Scope.CONNECTION)
        return _context_scoped(registration, build, pinned=lifetime is Scope.CONNECTION)

    def _parameter(
        self, parameter: FactoryParameter, site: str, scope: Scope, stack: tuple[Registration, ...]
    ) -> Resolver | None:
        is_marker = self._registry.is_marker
        for item in (*parameter.metadata, parameter.default):
            if item is not EMPTY and is_marker(item):
                return self._marker(site, parameter.annotation, item)
        dependency = Dependency(site, parameter.annotation, scope)
        builtin = framework_resolver(dependency)
        if builtin is not None:
            return builtin
        try:
            registration = self._registry.lookup(site, parameter.annotation)
        except MissingDependencyError:
            if parameter.default is not EMPTY:
                return None  # the factory's own default applies
            raise
        return self._registration(registration, site, scope, stack)


def _builder(registration: Registration, steps: tuple[tuple[str, Resolver], ...]) -> Resolver:
    """Make the function that runs a factory in a context (its parameters resolved there)."""
    call = registration.factory
    assert call is not None
    provider = registration.provider
    label = registration.label
    isawaitable = is_awaitable

    async def build_later(ctx: InjectionContext, kwargs: dict[str, Any]) -> Any:
        for name, value in kwargs.items():
            if isawaitable(value):
                kwargs[name] = await value
        result = _enter(call(**kwargs), ctx, label)
        return await result if isawaitable(result) else result

    def build(ctx: InjectionContext) -> Any:
        if provider.last_overriding is not None:
            return _enter(provider(), ctx, label)  # an override replaces the whole factory
        kwargs = {}
        waiting = False
        for name, resolve in steps:
            value = resolve(ctx)
            if isawaitable(value):
                waiting = True
            kwargs[name] = value
        if waiting:
            return build_later(ctx, kwargs)
        result = call(**kwargs)
        kind = type(result)
        return _enter(result, ctx, label) if kind in _GENERATORS else result

    def build_bare(ctx: InjectionContext) -> Any:
        if provider.last_overriding is not None:
            return _enter(provider(), ctx, label)
        result = call()
        kind = type(result)
        return _enter(result, ctx, label) if kind in _GENERATORS else result

    return build if steps else build_bare


def _enter(result: Any, ctx: InjectionContext, label: str) -> Any:
    """Give a factory's value: a generator is entered and its cleanup deferred to *ctx*."""
    if type(result) is GeneratorType:
        try:
            value = next(result)
        except StopIteration:
            raise RuntimeError(f"{label} finished without yielding a value") from None
        ctx.defer(functools.partial(_finish_generator, result, label))
        return value
    if type(result) is AsyncGeneratorType:
        return _enter_async(result, ctx, label)
    return result


async def _enter_async(generator: AsyncGenerator[Any], ctx: InjectionContext, label: str) -> Any:
    try:
        value = await anext(generator)
    except StopAsyncIteration:
        raise RuntimeError(f"{label} finished without yielding a value") from None
    ctx.defer(functools.partial(_finish_async_generator, generator, label))
    return value


def _finish_generator(generator: Generator[Any], label: str) -> None:
    try:
        next(generator)
    except StopIteration:
        return
    generator.close()
    raise RuntimeError(f"{label} yielded more than once")


async def _finish_async_generator(generator: AsyncGenerator[Any], label: str) -> None:
    try:
        await anext(generator)
    except StopAsyncIteration:
        return
    await generator.aclose()
    raise RuntimeError(f"{label} yielded more than once")


async def _store(cache: dict[object, Any], key: object, pending: Awaitable[Any]) -> Any:
    value = await pending
    cache[key] = value
    return value


def _context_scoped(registration: Registration, build: Resolver, *, pinned: bool) -> Resolver:
    """Cache the value in the event's context, or (when *pinned*) in the namespace connection's."""
    isawaitable = is_awaitable
    plain: set[type] = set()  # types built that are not awaitable: a set lookup per event

    def resolve(ctx: InjectionContext) -> Any:
        target = ctx.connection if pinned else ctx
        cache = target.cache
        value = cache.get(registration, _MISSING)
        if value is _MISSING:
            value = build(target)
            if type(value) not in plain:
                if isawaitable(value):
                    return _store(cache, registration, value)
                plain.add(type(value))
            cache[registration] = value
        return value

    return resolve


def _context_scoped_bare(registration: Registration, *, pinned: bool) -> Resolver:
    """`_context_scoped` over the ``build_bare`` of `_builder`, in one function: a factory that
    takes no dependency (the common case) costs one call less per event."""
    call = registration.factory
    assert call is not None
    provider = registration.provider
    label = registration.label
    isawaitable = is_awaitable
    plain: set[type] = set()

    def resolve(ctx: InjectionContext) -> Any:
        target = ctx.connection if pinned else ctx
        cache = target.cache
        value = cache.get(registration, _MISSING)
        if value is _MISSING:
            if provider.last_overriding is not None:
                value = _enter(provider(), target, label)  # an override replaces the whole factory
            else:
                value = call()
                if type(value) in _GENERATORS:
                    value = _enter(value, target, label)
            if type(value) not in plain:
                if isawaitable(value):
                    return _store(cache, registration, value)
                plain.add(type(value))
            cache[registration] = value
        return value

    return resolve


def _app_scoped(registration: Registration, build: Resolver, app: AppContext) -> Resolver:
    """Cache the value for the application; concurrent first uses share one build."""
    cache = app.cache

    def settled(task: asyncio.Future[Any]) -> None:
        if task.cancelled() or task.exception() is not None:
            cache.pop(registration, None)
        else:
            cache[registration] = task.result()

    def resolve(ctx: InjectionContext) -> Any:
        value = cache.get(registration, _MISSING)
        if value is _MISSING:
            value = build(app)
            if is_awaitable(value):
                task = cache[registration] = asyncio.ensure_future(value)
                task.add_done_callback(settled)
                return task
            cache[registration] = value
        return value

    return resolve
