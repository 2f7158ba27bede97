"""The container core: registration, planning, scopes and the InjectQ façade."""

from injectq.core.bindings import Binding, Kind, ScopeType
from injectq.core.container import InjectQ
from injectq.core.context import ContainerContext
from injectq.core.scopes import Scope

ModuleBinder = InjectQ  # modules configure the container itself

__all__ = ["Binding", "ContainerContext", "InjectQ", "Kind", "ModuleBinder", "Scope", "ScopeType"]
