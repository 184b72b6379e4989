"""aioneffos.di: dependency injection for controllers, on dependency-injector.

`Registry` implements the controllers' `Injector` seam; `Application` is the MVC
application with a registry plugged in. Three scopes: app (static instances,
singletons, providers), connection (resolved once when a namespace connects), event
(resolved per event for extra ``On*`` parameters). ``Provide`` and ``Provider`` are
dependency-injector's markers, re-exported for convenience.
"""

from dependency_injector.wiring import Provide, Provider

from aioneffos.controllers import Scope

from .application import Application
from .registrations import InvalidRegistrationError
from .registry import Registry

__all__ = ["Application", "InvalidRegistrationError", "Provide", "Provider", "Registry", "Scope"]
