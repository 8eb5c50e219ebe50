"""Every extension point of grader, in one module (the shape of pluggy's "eggsample").

Built-in check packs (``checks.linux``, ...) implement these hooks exactly as a third
party's package would, and are found through the same entry-point group, ``grader``.
Calls are keyword-only; an implementation may accept a subset of a spec's arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from grader.check import Check

PROJECT = "grader"
hookspec = pluggy.HookspecMarker(PROJECT)
#: What a plugin marks its hook implementations with (also importable as ``grader.plugins.hookimpl``).
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def grader_register_checks() -> list[type[Check]]:
    """Return the check classes this plugin provides.

    Each class must have a unique ``id`` across all plugins; duplicates are refused when
    the plugin manager is built, naming both providers.

    :return: a list of :class:`grader.check.Check` subclasses.
    """


@hookspec
def grader_register_reporters() -> list[Any]:
    """Return report writers: objects with ``name`` and ``write(store, run_id, out_dir, lang) -> list[Path]``.

    :return: a list of reporter objects, called after every run to write its reports.
    """


@hookspec
def grader_register_transports() -> list[Any]:
    """Return channels: declarations (:class:`grader.probes.channel.ChannelSpec`) or channel classes
    (subclasses of :class:`grader.transports.base.Channel`).

    Each channel has a unique ``name`` (the ``transport`` of the probes it carries, and of the
    rubric hosts it is the primary transport of) and an ``Options`` model for its per-host
    settings under ``hosts[].options.<name>`` in a rubric. A declaration names its class by
    address (``"package.module:Class"``), imported only when a run opens connections, so that
    validating a rubric never loads a connection library.

    :return: a list of declarations or channel classes; the runner instantiates each once per run.
    """
