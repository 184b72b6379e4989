"""The errors of MVC controllers: registration errors (raised at start-up) and body decoding.

Every error is a `NeffosError` and also the builtin that fits, so ``except TypeError``
or ``except LookupError`` catch them as well. Registration errors name the controller,
the member and the type involved (``"ChatController.OnChat(user): nothing provides User"``).
"""

from __future__ import annotations

from typing import Any

from aioneffos.framework import NeffosError


class ControllerError(NeffosError):
    """A controller, or what it depends on, cannot be used; raised when it is registered."""


class InvalidControllerError(ControllerError, TypeError):
    """The controller class or template cannot be used (no events, bad constructor, bad namespace)."""


class InvalidEventMethodError(ControllerError, TypeError):
    """An event method is not a coroutine method or has a parameter that cannot be filled."""


class DependencyError(ControllerError):
    """A dependency of a controller (or of a factory) cannot be resolved.

    ``site`` names where it is needed (``"Controller.member"`` or
    ``"Controller.OnEvent(param)"``) and ``annotation`` is the type asked for.
    """

    def __init__(self, site: str, annotation: Any, reason: str) -> None:
        super().__init__(f"{site}: {reason}")
        self.site = site
        self.annotation = annotation


class MissingDependencyError(DependencyError, LookupError):
    """Nothing registered provides the type asked for."""


class AmbiguousDependencyError(DependencyError, LookupError):
    """Several registrations provide the type asked for, and none matches it exactly."""


class ScopeMismatchError(DependencyError, TypeError):
    """A longer-lived value would capture a shorter-lived one (an event value in an attribute)."""


class CircularDependencyError(DependencyError, TypeError):
    """Factories depend on each other in a cycle."""


class ConflictingEventError(NeffosError, ValueError):
    """Two handlers joined into one namespace answer the same event."""

    def __init__(self, namespace: str, event: str) -> None:
        super().__init__(f"namespace {namespace!r}: event {event!r} is handled twice")
        self.namespace = namespace
        self.event = event


class FrozenApplicationError(ControllerError, RuntimeError):
    """The application (or a controller handle) was changed after a `Server` was built from it."""


class BodyDecodeError(NeffosError, ValueError):
    """An event body could not be decoded into the attrs class a parameter asks for.

    Its text is the error reply, naming the field: ``invalid Chat body: required field
    missing @ $.text``.
    """


class ContractError(NeffosError, TypeError):
    """A server's contract cannot be written: a body or reply type has no JSON Schema."""
