"""Reflection over a controller class, done once at registration (neffos reflect.go, in Python terms).

`reflect` reads a controller class (or template instance) into a `ControllerSpec`: its
namespace, its template seeds, its candidate event methods, its system methods and
its annotated attributes. Nothing here runs per connection or per message.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from types import FunctionType
from typing import Any, ClassVar

import attrs

from aioneffos.framework import ON_ANY_EVENT, ON_NATIVE_MESSAGE, SYSTEM_EVENTS

from .controller import FRAMEWORK_ATTRIBUTES, Controller
from .errors import InvalidControllerError, InvalidEventMethodError
from .typing import EMPTY, split_annotated

SYSTEM_METHODS: Mapping[str, str] = {
    event.removeprefix("_"): event for event in (*sorted(SYSTEM_EVENTS), ON_ANY_EVENT, ON_NATIVE_MESSAGE)
}
"""Method names answering the ``_On...`` events, each the event's name without its underscore
(the seven system events, ``_OnAnyEvent`` and ``_OnNativeMessage``); event matchers never see them."""


@attrs.frozen
class Parameter:
    """One parameter of an event method (after ``self``)."""

    name: str
    annotation: Any
    metadata: tuple[object, ...]
    default: object
    keyword_only: bool


@attrs.frozen
class EventMethod:
    """A validated event method: a coroutine function and its parameters."""

    name: str
    function: Callable[..., Any]
    parameters: tuple[Parameter, ...]


@attrs.frozen
class Attribute:
    """An annotated public attribute of a controller class: a candidate for injection."""

    name: str
    annotation: Any
    metadata: tuple[object, ...]
    default: object
    """The class-level value, or `EMPTY`."""


@attrs.frozen
class ControllerSpec:
    """What reflection found in a controller class and its template."""

    cls: type[Controller]
    seeds: Mapping[str, object]
    """Public attributes of the template instance, copied onto every new instance."""
    namespace: str
    namespace_is_method: bool
    methods: Mapping[str, object]
    """Public methods that an event matcher may pick, by name (raw class attributes)."""
    system_methods: Mapping[str, object]
    """Methods named after system events, by method name."""
    attributes: tuple[Attribute, ...]

    @property
    def name(self) -> str:
        """Give the controller's qualified name, for messages."""
        return self.cls.__qualname__


def reflect(target: type[Controller] | Controller) -> ControllerSpec:
    """Read a controller class, or a template instance of one, into a `ControllerSpec`.

    Raise `InvalidControllerError` for anything but a `Controller` subclass or instance,
    a class that cannot be created without arguments, a non-str namespace, or an
    annotation that cannot be resolved.
    """
    if isinstance(target, type) and issubclass(target, Controller) and target is not Controller:
        cls: type[Controller] = target
        template = None
    elif isinstance(target, Controller) and type(target) is not Controller:
        cls, template = type(target), target
    else:
        raise InvalidControllerError(
            f"handle_websocket expects a Controller subclass or an instance of one, got {target!r}"
        )
    if template is None:
        try:
            probe = cls()
        except Exception as exc:
            raise InvalidControllerError(
                f"{cls.__qualname__}: a controller is created once per namespace connection "
                f"and must be constructible without arguments ({exc})"
            ) from exc
    else:
        probe = template
    seeds = (
        {
            name: value
            for name, value in vars(template).items()
            if not name.startswith("_") and name not in FRAMEWORK_ATTRIBUTES
        }
        if template is not None
        else {}
    )
    namespace, is_method = _namespace(cls, probe)
    methods: dict[str, object] = {}
    system: dict[str, object] = {}
    for klass in _own_classes(cls):
        for name, raw in vars(klass).items():
            if name.startswith("_") or name == "namespace" or name in methods or name in system:
                continue
            if name in SYSTEM_METHODS:
                system[name] = raw
            elif isinstance(raw, FunctionType | staticmethod | classmethod):
                methods[name] = raw
    return ControllerSpec(cls, seeds, namespace, is_method, methods, system, _attributes(cls))


def _own_classes(cls: type[Controller]) -> list[type]:
    """Give the classes of *cls*'s MRO that come before `Controller` (the user's own)."""
    return [klass for klass in cls.__mro__ if klass not in Controller.__mro__]


def _namespace(cls: type[Controller], probe: Controller) -> tuple[str, bool]:
    """Resolve the namespace: a ``namespace()`` method, else the attribute (template first)."""
    static = inspect.getattr_static(cls, "namespace", "")
    if isinstance(static, FunctionType | staticmethod | classmethod):
        bound = static.__get__(probe, cls)
        try:
            value = bound()
        except Exception as exc:
            raise InvalidControllerError(f"{cls.__qualname__}.namespace() raised {exc!r}") from exc
        is_method = True
    else:
        value = vars(probe).get("namespace", static)
        is_method = False
    if not isinstance(value, str):
        raise InvalidControllerError(f"{cls.__qualname__}.namespace: expected a str, got {value!r}")
    return value, is_method


def _attributes(cls: type[Controller]) -> tuple[Attribute, ...]:
    names: list[str] = []
    for klass in reversed(_own_classes(cls)):
        for name in inspect.get_annotations(klass):
            if not name.startswith("_") and name not in FRAMEWORK_ATTRIBUTES and name not in names:
                names.append(name)
    if not names:
        return ()
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:
        raise InvalidControllerError(f"{cls.__qualname__}: cannot resolve an annotation ({exc})") from exc
    attributes = []
    for name in names:
        hint = hints[name]
        if typing.get_origin(hint) is ClassVar:
            continue
        annotation, metadata = split_annotated(hint)
        default = inspect.getattr_static(cls, name, EMPTY)
        attributes.append(Attribute(name, annotation, metadata, default))
    return tuple(attributes)


def event_method(spec: ControllerSpec, name: str, raw: object) -> EventMethod:
    """Validate method *name* as an event method: an ``async def`` whose parameters can be filled.

    Raise `InvalidEventMethodError` naming the controller and the method.
    """
    label = f"{spec.name}.{name}"
    if not isinstance(raw, FunctionType):
        kind = type(raw).__name__
        raise InvalidEventMethodError(f"{label}: an event must be a plain `async def` method, not a {kind}")
    if not inspect.iscoroutinefunction(raw):
        raise InvalidEventMethodError(f"{label}: an event method must be a coroutine function (`async def`)")
    try:
        hints = typing.get_type_hints(raw, include_extras=True)
    except Exception as exc:
        raise InvalidEventMethodError(f"{label}: cannot resolve an annotation ({exc})") from exc
    signature = inspect.signature(raw)
    listed = list(signature.parameters.values())
    if not listed or listed[0].kind not in (listed[0].POSITIONAL_ONLY, listed[0].POSITIONAL_OR_KEYWORD):
        raise InvalidEventMethodError(f"{label}: an event method takes `self` first")
    parameters = []
    for param in listed[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise InvalidEventMethodError(
                f"{label}({star}{param.name}): cannot be filled; name each parameter"
            )
        annotation, metadata = split_annotated(hints.get(param.name, EMPTY))
        keyword_only = param.kind is param.KEYWORD_ONLY
        parameters.append(Parameter(param.name, annotation, metadata, param.default, keyword_only))
    return EventMethod(name, raw, tuple(parameters))
