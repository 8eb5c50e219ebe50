"""Building the plugin manager and the check catalogue (validated at load time, not at run time)."""

from __future__ import annotations

from functools import lru_cache

import pluggy

from grader import hookspecs
from grader.check import Check
from grader.errors import PluginError

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)


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


@lru_cache(maxsize=1)
def default_catalogue() -> dict[str, type[Check]]:
    """The catalogue of the installed plugins (cached: entry points are read once per process)."""
    return collect_checks(get_plugin_manager())
