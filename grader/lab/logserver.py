"""The candidate's own log server in the demo room: pc-lan forwards its journal to srv-lin's rsyslog.

``network.syslog_received`` logs a token line on pc-lan and searches srv-lin's files for it. Both
candidates' configurations read the same way (pc-lan: ``*.* @<srv-lin>:514``; srv-lin: an imudp input
on 514 writing each remote host to /var/log/distants/<host>.log); 02's input is bound to 127.0.0.1, so
srv-lin never hears pc-lan: configured towards B, never arriving, which only the functional proof shows.
Planted in the trees before boot (rsyslog reads its configuration when it starts).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

COLLECTOR = """\
# Serveur de journaux du site : les journaux des autres machines, un fichier par hôte.
module(load="imudp")
input(type="imudp" port="514" {bind}ruleset="distants")
template(name="ParHote" type="string" string="/var/log/distants/%HOSTNAME%.log")
ruleset(name="distants") {{ action(type="omfile" dynaFile="ParHote") }}
"""
REMOTE_DIR = "/var/log/distants"


def plant_collector(*, listening: bool) -> Callable[[Path], None]:
    """srv-lin as the site's log server; ``listening=False``: its input bound to 127.0.0.1 (deaf to the LAN)."""
    def plant(root: Path) -> None:
        conf = root / "etc/rsyslog.d/40-serveur-journaux.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(COLLECTOR.format(bind="" if listening else 'address="127.0.0.1" '))
        conf.chmod(0o644)
        (root / REMOTE_DIR.lstrip("/")).mkdir(parents=True, exist_ok=True)
    return plant


def plant_sender(collector: str) -> Callable[[Path], None]:
    """pc-lan forwards everything to ``collector`` (UDP 514), as both candidates configured it."""
    def plant(root: Path) -> None:
        conf = root / "etc/rsyslog.d/50-serveur-journaux.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(f"*.* @{collector}:514\n")
        conf.chmod(0o644)
    return plant
