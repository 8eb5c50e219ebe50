"""Building the plugin manager and the check catalogue (validated at load time, not at run time)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pluggy

from grader import hookspecs
from grader.check import Check
from grader.errors import PluginError
from grader.hookspecs import hookimpl
from grader.probes.channel import ChannelSpec

if TYPE_CHECKING:
    from grader.transports.base import Channel

#: ``hookimpl`` is re-exported: what plugins mark their hooks with (``from grader.plugins import hookimpl``).
__all__ = ["collect_channel_specs", "collect_checks", "collect_transports", "default_catalogue", "default_channel_specs",
           "default_transports", "get_plugin_manager", "hookimpl"]


def get_plugin_manager(*, load_entrypoints: bool = True, extra: tuple[object, ...] = ()) -> pluggy.PluginManager:
    """Add the specs, load every installed plugin (built-ins included) and check the hooks.

    :param load_entrypoints: load plugins from the ``grader`` entry-point group.
    :param extra: plugin objects to register in addition (tests, embedding).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
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
        for cls in _listed(impl.function()):
            if not (isinstance(cls, type) and issubclass(cls, Check)) or not getattr(cls, "id", None):
                raise PluginError(f"le greffon {impl.plugin_name} fournit une vérification invalide : {cls!r}")
            if cls.id in catalogue:
                raise PluginError(
                    f"identifiant de vérification en double « {cls.id} » : {providers[cls.id]} et {impl.plugin_name}"
                )
            catalogue[cls.id] = cls
            providers[cls.id] = impl.plugin_name
    return dict(sorted(catalogue.items()))


def collect_channel_specs(pm: pluggy.PluginManager) -> dict[str, ChannelSpec]:
    """Every plugin's channels by name, as declared (nothing imported); a duplicate name is a load error."""
    channels: dict[str, ChannelSpec] = {}
    for impl in pm.hook.grader_register_transports.get_hookimpls():
        for item in _listed(impl.function()):
            spec = item if isinstance(item, ChannelSpec) else _declared(item)
            if spec is None or not spec.name:
                raise PluginError(f"le greffon {impl.plugin_name} fournit un transport invalide : {item!r}")
            if spec.name in channels:
                raise PluginError(f"transport en double « {spec.name} » (greffon {impl.plugin_name})")
            channels[spec.name] = spec
    return channels


def _listed(returned: object) -> list[Any]:
    """What a registration hook returned, as a list (None: nothing; anything else not a list is refused item by item)."""
    return list(returned) if isinstance(returned, (list, tuple)) else [] if returned is None else [returned]


def _declared(item: object) -> ChannelSpec | None:
    """The declaration of a channel registered as a class, or None when it is not a channel class."""
    from grader.transports.base import Channel  # only a class registered as such needs the base

    if isinstance(item, type) and issubclass(item, Channel):
        return ChannelSpec.of(item)
    return None


def collect_transports(pm: pluggy.PluginManager) -> dict[str, type[Channel]]:
    """Every plugin's channel classes by name (their implementations imported now)."""
    return {name: spec.load() for name, spec in collect_channel_specs(pm).items()}


@lru_cache(maxsize=1)
def default_channel_specs() -> dict[str, ChannelSpec]:
    """The declarations of the installed plugins' channels, the built-in ones included (cached)."""
    return collect_channel_specs(get_plugin_manager())


@lru_cache(maxsize=1)
def default_transports() -> dict[str, type[Channel]]:
    """The channel classes of the installed plugins and the built-in ones (cached; imports them)."""
    return {name: spec.load() for name, spec in default_channel_specs().items()}


@lru_cache(maxsize=1)
def default_catalogue() -> dict[str, type[Check]]:
    """The catalogue of the installed plugins (cached: entry points are read once per process)."""
    return collect_checks(get_plugin_manager())
