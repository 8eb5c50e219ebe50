"""The candidates' supervision server in the demo room: Nagios 4 (nagios4-core) on srv-lin.

A candidate declares the hosts to supervise in ``/etc/nagios4/conf.d/`` (Debian's
nagios.cfg reads that directory), on the templates Debian ships (``linux-server`` from
objects/templates.cfg), and enables ``nagios4.service``. The daemon needs no web server; it
writes the hosts it loaded to ``/var/lib/nagios4/objects.cache`` at start and its state to
``/var/lib/nagios4/status.dat`` every ``status_update_interval`` (10 s), with its pid in the
``programstatus`` block: what the grader reads (:mod:`checks.network.supervision`).

Debian's unit keeps its lock file under ``/run/nagios4``, which nothing recreates on a fresh
``/run``; the lab adds the tmpfiles.d line the package leaves out, as an administrator would.
:func:`with_nagios` wraps a host's planting so that the demo room's line stays one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from grader.errors import LabError
from grader.lab.hosts import then

CONF = "/etc/nagios4/conf.d/tssr.cfg"
TMPFILES = "/etc/tmpfiles.d/nagios4-run.conf"
ALIASES = {"srv-lin": "Serveur intranet", "routeur": "Routeur / pare-feu", "dc": "Contrôleur de domaine",
           "pc-lan": "Poste du LAN", "srv-wan": "Serveur WAN"}


def hosts_cfg(hosts: Mapping[str, str]) -> str:
    """Nagios object definitions: one host per (name, address), on Debian's linux-server template."""
    blocks = ["# Hôtes supervisés (salle TSSR)\n"]
    for name, address in hosts.items():
        blocks.append(f"define host {{\n    use                 linux-server\n    host_name           {name}\n"
                      f"    alias               {ALIASES.get(name, name)}\n    address             {address}\n}}\n")
    return "\n".join(blocks)


def plant_nagios(root: Path, hosts: Mapping[str, str]) -> None:
    """Nagios with the given hosts, enabled at boot."""
    unit = root / "lib/systemd/system/nagios4.service"
    if not unit.exists():
        raise LabError("unité absente de la base : nagios4.service (paquet nagios4-core)")
    conf = root / CONF.lstrip("/")
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(hosts_cfg(hosts))
    conf.chmod(0o644)
    tmpfiles = root / TMPFILES.lstrip("/")
    tmpfiles.parent.mkdir(parents=True, exist_ok=True)
    tmpfiles.write_text("d /run/nagios4 0755 nagios nagios -\n")
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "nagios4.service"
    if not link.is_symlink():
        link.symlink_to("/lib/systemd/system/nagios4.service")


def with_nagios(plant: Callable[[Path], None] | None, addresses: Mapping[str, str],
                names: Iterable[str]) -> Callable[[Path], None]:
    """``plant``, then Nagios supervising ``names`` (at their ``addresses``)."""
    hosts = {name: addresses[name] for name in names}
    return then(plant, lambda root: plant_nagios(root, hosts))


SERVICES_CONF = "/etc/nagios4/conf.d/tssr-services.cfg"
#: A TCP service check without monitoring-plugins (a Recommends the base tree leaves out): bash's
#: /dev/tcp, in a script (a ``;`` in a command_line would start a comment in Nagios' object files).
TCP_SCRIPT = "/usr/local/lib/nagios/tssr_check_tcp"
TCP_SCRIPT_TEXT = """#!/bin/bash
# Nagios plugin: TCP connection to $1 port $2 (0 OK, 2 CRITICAL).
if /usr/bin/timeout 5 /bin/bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then
    echo "TCP OK - port $2"
    exit 0
fi
echo "TCP CRITICAL - port $2 fermé"
exit 2
"""
TCP_COMMAND = ("define command {\n    command_name    tssr_check_tcp\n"
               f"    command_line    {TCP_SCRIPT} $HOSTADDRESS$ $ARG1$\n}}\n")


def plant_nagios_services(root: Path, services: Iterable[tuple[str, str, int]]) -> None:
    """Services checked by TCP connection (host, description, port), first checked seconds after start.

    ``interval_length=5`` makes a check interval of 1 five seconds and scales
    ``max_service_check_spread`` (in interval units) the same way, so that a lab test sees every
    service checked in seconds; ``status_update_interval`` drops to 2 s. An administrator may
    tune the same settings; the grader only reads the result.
    """
    script = root / TCP_SCRIPT.lstrip("/")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(TCP_SCRIPT_TEXT)
    script.chmod(0o755)
    blocks = [TCP_COMMAND]
    for host, description, port in services:
        blocks.append(f"define service {{\n    use                     generic-service\n    host_name               {host}\n"
                      f"    service_description     {description}\n    check_command           tssr_check_tcp!{port}\n"
                      "    check_interval          1\n    retry_interval          1\n    max_check_attempts      1\n}\n")
    conf = root / SERVICES_CONF.lstrip("/")
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text("\n".join(blocks))
    conf.chmod(0o644)
    cfg = root / "etc/nagios4/nagios.cfg"
    tuned = {"interval_length": "5", "max_service_check_spread": "1", "max_host_check_spread": "1",
             "status_update_interval": "2"}
    lines = [f"{line.partition('=')[0]}={tuned[line.partition('=')[0]]}" if line.partition("=")[0] in tuned else line
             for line in cfg.read_text().splitlines()]
    cfg.write_text("\n".join(lines) + "\n")
