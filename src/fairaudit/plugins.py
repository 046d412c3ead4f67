"""Plugins: one pluggy manager, hook specifications, and the registry of components.

fairaudit's own model loaders and data readers are plugins too: :mod:`fairaudit.builtins`
implements the same hooks a third-party package implements. Third-party packages announce
themselves with an entry point in the ``fairaudit`` group, e.g. in their ``pyproject.toml``::

    [project.entry-points.fairaudit]
    my_loaders = "my_package.fairaudit_plugin"

where ``my_package/fairaudit_plugin.py`` holds::

    from fairaudit.plugins import hookimpl

    @hookimpl
    def fairaudit_model_loaders():
        return [MyLoader]

No manager is created at import time: :func:`make_plugin_manager` builds a fresh one, so
tests can build a clean manager with exactly the plugins they want.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from fairaudit.errors import PluginError

__all__ = [
    "PROJECT",
    "Component",
    "Registry",
    "hookimpl",
    "hookspec",
    "make_plugin_manager",
    "make_registry",
]

PROJECT = "fairaudit"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class HookSpecs:
    """The hooks a fairaudit plugin may implement. Each returns component classes."""

    @hookspec
    def fairaudit_model_loaders(self) -> list[type]:  # type: ignore[empty-body]
        """Return model-loader classes (subclasses of :class:`fairaudit.models.ModelLoader`)."""

    @hookspec
    def fairaudit_data_readers(self) -> list[type]:  # type: ignore[empty-body]
        """Return data-reader classes (subclasses of :class:`fairaudit.data.DataReader`)."""


def make_plugin_manager(
    *, entry_points: bool = True, plugins: Iterable[Any] = (), builtins: bool = True
) -> pluggy.PluginManager:
    """Build a plugin manager.

    Parameters
    ----------
    entry_points
        Load third-party plugins from the ``fairaudit`` entry-point group.
    plugins
        Extra plugin objects (modules or instances with hook implementations) to register.
    builtins
        Register fairaudit's own components (turn off only in tests).
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(HookSpecs)
    if builtins:
        from fairaudit import builtins as _builtins

        pm.register(_builtins, name="fairaudit.builtins")
    for plugin in plugins:
        pm.register(plugin)
    if entry_points:
        try:
            pm.load_setuptools_entrypoints(PROJECT)
        except Exception as exc:  # a broken third-party plugin must not look like our bug
            raise PluginError(
                f"a plugin in the {PROJECT!r} entry-point group failed to load: {exc}",
                fix="upgrade or uninstall the plugin package (see `pip list`)",
            ) from exc
    return pm


@dataclass(frozen=True)
class Component:
    """One component a plugin provides."""

    kind: str
    name: str
    cls: type
    provider: str
    description: str


_KINDS = {"model_loader": "fairaudit_model_loaders", "data_reader": "fairaudit_data_readers"}


class Registry:
    """The components every registered plugin provides, by kind and name."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._components: dict[str, dict[str, Component]] = {}
        for kind, hook_name in _KINDS.items():
            found: dict[str, Component] = {}
            hook = getattr(pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                provider = pm.get_name(impl.plugin) or repr(impl.plugin)
                dist = _distribution_of(pm, impl.plugin)
                if dist:
                    provider = f"{provider} ({dist})"
                try:
                    classes = impl.function() or []
                except Exception as exc:
                    raise PluginError(
                        f"{hook_name} raised {type(exc).__name__}: {exc}", plugin=provider
                    ) from exc
                for cls in classes:
                    name = getattr(cls, "name", None)
                    if not isinstance(name, str) or not name:
                        raise PluginError(
                            f"{hook_name} returned {cls!r}, which has no 'name'",
                            plugin=provider,
                        )
                    if name in found:
                        raise PluginError(
                            f"two plugins provide a {kind.replace('_', ' ')} named {name!r}: "
                            f"{found[name].provider} and {provider}",
                            plugin=provider,
                            fix="uninstall one of them",
                        )
                    doc = getattr(cls, "description", "") or (cls.__doc__ or "").strip()
                    first = doc.splitlines()[0] if doc else ""
                    found[name] = Component(kind, name, cls, provider, first)
            self._components[kind] = dict(sorted(found.items()))

    def components(self, kind: str | None = None) -> list[Component]:
        """Every component, or those of one kind, sorted by kind then name."""
        kinds = [kind] if kind else list(self._components)
        return [c for k in kinds for c in self._components.get(k, {}).values()]

    def get(self, kind: str, name: str, *, field: str | None = None) -> type:
        """The class of component ``name`` of ``kind``.

        Raises
        ------
        PluginError
            When no plugin provides it; the message lists what is available.
        """
        try:
            return self._components[kind][name].cls
        except KeyError:
            available = ", ".join(self._components.get(kind, {})) or "none"
            raise PluginError(
                f"unknown {kind.replace('_', ' ')} {name!r} (available: {available})",
                fix="use one of those, or install the plugin that provides it "
                "(`fairaudit plugins` lists what is installed)",
            ) from None


def _distribution_of(pm: pluggy.PluginManager, plugin: Any) -> str | None:
    for p, dist in pm.list_plugin_distinfo():
        if p is plugin:
            return f"{dist.project_name} {dist.version}"
    return None


def make_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    """A registry over ``pm`` (by default a fresh manager with entry points loaded)."""
    return Registry(pm if pm is not None else make_plugin_manager())
