"""Modules of bindings."""

from injectq.modules.base import ConfigurationModule, Module, ProviderModule, SimpleModule, provider

__all__ = ["ConfigurationModule", "Module", "ProviderModule", "SimpleModule", "provider"]
