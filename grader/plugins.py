"""Building the plugin manager and the check catalogue (validated at load time, not at run time)."""

from __future__ import annotations

from functools import lru_cache

import pluggy

from grader import hookspecs
from grader.check import Check
from grader.errors import PluginError
from grader.transports.base import Channel

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)


def get_plugin_manager(*, load_entrypoints: bool = True, extra: tuple[object, ...] = ()) -> pluggy.PluginManager:
    """Add the specs, load every installed plugin (built-ins included) and check the hooks.

    :param load_entrypoints: load plugins from the ``grader`` entry-point group.
    :param extra: plugin objects to register in addition (tests, embedding).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    from grader.transports import builtin  # the engine's own channels, registered like a plugin's

    pm.register(builtin, name="grader.transports.builtin")
    if load_entrypoints:
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


def collect_checks(pm: pluggy.PluginManager) -> dict[str, type[Check]]:
    """Merge every plugin's checks into one catalogue; a duplicate id is a load error."""
    catalogue: dict[str, type[Check]] = {}
    providers: dict[str, str] = {}
    for impl in pm.hook.grader_register_checks.get_hookimpls():
        for cls in impl.function() or []:
            if not (isinstance(cls, type) and issubclass(cls, Check)) or not getattr(cls, "id", None):
                raise PluginError(f"le greffon {impl.plugin_name} fournit une vérification invalide : {cls!r}")
            if cls.id in catalogue:
                raise PluginError(
                    f"identifiant de vérification en double « {cls.id} » : {providers[cls.id]} et {impl.plugin_name}"
                )
            catalogue[cls.id] = cls
            providers[cls.id] = impl.plugin_name
    return dict(sorted(catalogue.items()))


def collect_transports(pm: pluggy.PluginManager) -> dict[str, type[Channel]]:
    """Every plugin's channels by name; a duplicate name is a load error."""
    channels: dict[str, type[Channel]] = {}
    for impl in pm.hook.grader_register_transports.get_hookimpls():
        for cls in impl.function() or []:
            if not (isinstance(cls, type) and issubclass(cls, Channel)) or not getattr(cls, "name", ""):
                raise PluginError(f"le greffon {impl.plugin_name} fournit un transport invalide : {cls!r}")
            if cls.name in channels:
                raise PluginError(f"transport en double « {cls.name} » (greffon {impl.plugin_name})")
            channels[cls.name] = cls
    return channels


@lru_cache(maxsize=1)
def default_transports() -> dict[str, type[Channel]]:
    """The channels of the installed plugins and the built-in ones (cached)."""
    return collect_transports(get_plugin_manager())


@lru_cache(maxsize=1)
def default_catalogue() -> dict[str, type[Check]]:
    """The catalogue of the installed plugins (cached: entry points are read once per process)."""
    return collect_checks(get_plugin_manager())
