"""The ``ssh_peer`` channel's language: a command run over SSH on *another* machine of the candidate's.

Some proofs end on a second machine: a line logged on host A must be found in the files of the
candidate's own log server B. The check is A's (its verdict is about A's forwarding and B's
reception together); the command that reads B travels in A's job, after A's primary channel has
run (A's probes, the ``logger`` line, come first: see :func:`grader.runner.grade_host`), so no
ordering between hosts' jobs is needed. The command is canonical JSON::

    {"command":"/usr/bin/grep …","credential":"correcteur","host":"10.77.1.30","port":22,"sudo":true}

``host`` is B's address (a rubric parameter, usually ``{{ addr['srv-log'] }}``), ``credential`` a
rubric credential for SSH on B (``null``: A's own), ``sudo`` whether the command runs through
``sudo -n`` there. The command is an ``ssh`` channel command (POSIX sh, absolute paths) and comes
back as an ``ssh`` probe's result: stdout, stderr, exit code. A peer that cannot be reached makes
the channel raise :class:`~grader.errors.Unreachable`, with B named.
"""

from __future__ import annotations

import json
from typing import Any

from grader.model import Probe
from grader.probes.channel import ChannelSpec


def on_peer(host: str, command: str, *, credential: str | None = None, port: int = 22, sudo: bool = False,
            timeout: float = 20.0, active: bool = False) -> Probe:
    """A probe: ``command`` run over SSH on ``host`` (another machine than the check's own)."""
    spec = {"host": host, "port": port, "credential": credential, "sudo": sudo, "command": command}
    validate_spec(spec)
    return Probe("ssh_peer", json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":")), timeout,
                 active=active)


def validate_spec(spec: Any) -> dict[str, Any]:
    """The peer command's spec, checked; raises ValueError with a French reason."""
    if not isinstance(spec, dict) or set(spec) != {"host", "port", "credential", "sudo", "command"}:
        raise ValueError("la commande distante doit être un objet {host, port, credential, sudo, command}")
    if not isinstance(spec["host"], str) or not spec["host"] or any(c.isspace() for c in spec["host"]):
        raise ValueError("« host » doit être une adresse")
    if not isinstance(spec["port"], int) or not 1 <= spec["port"] <= 65535:
        raise ValueError("« port » doit être un port TCP")
    if spec["credential"] is not None and (not isinstance(spec["credential"], str) or not spec["credential"]):
        raise ValueError("« credential » doit nommer des identifiants du barème")
    if not isinstance(spec["sudo"], bool) or not isinstance(spec["command"], str) or not spec["command"]:
        raise ValueError("« sudo » est un booléen et « command » une commande")
    return spec


CHANNEL = ChannelSpec("ssh_peer", "grader.transports.ssh_peer:SshPeerChannel", grader_side=True)
