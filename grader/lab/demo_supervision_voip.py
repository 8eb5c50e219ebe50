"""The demo room's Zabbix supervision and telephony (issue #13): each candidate's own servers.

In the exam the supervision server and the IPBX are the candidate's own machines, so each
candidate gets its own here too (03's are down like the rest of its machines: injoignable, never
« non conforme »), at addresses clear of the LAN (.64/27) and WAN (.128/27) segments:

* ``zabbix`` (10.77.N.60, a real Zabbix 6.0 server, grader/lab/zabbix.py) supervises ``srv-fic``
  (10.77.N.61, zabbix-agent). Candidate 01's agent answers its server. Candidate 02 defined the
  host exactly as 01 did (same interface, items and trigger: a reader of the Zabbix configuration
  sees nothing wrong), but its agent's ``Server=`` says 10.77.2.6 instead of .60: the agent rejects
  the server's polls and the server marks it unavailable, with no value collected.
* ``ipbx`` (10.77.N.25, Kamailio, grader/lab/voip.py) with two phones (baresip): the reception
  phone (.26) and the office phone (.27). Candidate 01's reception registers 101 and the office 102.
  Candidate 02 put account 102 on the reception phone and 103 on the office phone: 102 is
  registered, but from .26, not from the office phone; a look at the IPBX's extensions misses it.

No template is linked on the Zabbix hosts (« Linux by Zabbix agent » would add dozens of items
polled on the room's two shared cores): an agent.ping and an SSH service item every 5 s, and a
trigger on the latter, are what the checks read.

Readiness is waited for in the lab's setup, never in the verdicts: each Zabbix server's setup waits
(bounded) until the server itself has reached the state the candidate's configuration leads to, and
each IPBX's setup until its phones' registrations are in its table. The phones' unit waits (bounded)
for their IPBX to answer an OPTIONS before baresip starts: a phone whose first REGISTER found no
server would only retry minutes later.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from grader.errors import LabError
from grader.lab import voip, zabbix
from grader.lab.hosts import HostShell, HostSpec

ZABBIX_SERVER, MONITORED = "zabbix", "srv-fic"
IPBX, RECEPTION, OFFICE = "ipbx", "poste-accueil", "poste-bureau"
#: Host number of each machine in the candidate's 10.77.N.0/24.
NUMBERS = {ZABBIX_SERVER: 60, MONITORED: 61, IPBX: 25, RECEPTION: 26, OFFICE: 27}
#: Where 02's agent sends its answers (« Server= »): its server's address with the last digit forgotten.
WRONG_SERVER = "10.77.2.6"
#: Extensions each phone carries: 02 put 102 on the reception phone, 103 on the office one.
PHONE_ACCOUNTS: dict[str, dict[str, tuple[str, ...]]] = {"01": {RECEPTION: ("101",), OFFICE: ("102",)},
                  "02": {RECEPTION: ("101", "102"), OFFICE: ("103",)}}
#: Seconds the Zabbix server has to reach the planted availability once the host is defined (about 16 s alone
#: with the lab's short settings; more while the room sets up on two cores). Past it the lab fails to come up.
ZABBIX_DEADLINE = 150.0
#: Seconds the IPBX has to list its phones' registrations (about 7 s alone).
REGISTRATION_DEADLINE = 90.0
#: Seconds a phone waits for its IPBX to answer before baresip starts anyway (systemd's start timeout is above).
PHONE_WAIT = 120
#: Seconds baresip has to stop: at the lab's poweroff its IPBX halts at the same time, and the phone's
#: un-REGISTER would otherwise wait 32 s for an answer that never comes (the whole room's shutdown with it).
PHONE_STOP = 2

CHECK_IDS = ("zbx-hote", "zbx-agent", "zbx-ssh", "sip-ipbx", "poste-101", "poste-102")
_C, _N = "conforme", "non_conforme"
#: Candidate 02's verdicts (01 is conforme everywhere, 03 injoignable everywhere: its servers are off).
PLANTED_02 = {
    # srv-fic defined in Zabbix as asked, but the agent rejects the server (Server= 10.77.2.6): unavailable, no value
    "zbx-hote": _C, "zbx-agent": _N, "zbx-ssh": _N,
    # the IPBX answers; 101 is on the reception phone as asked, 102 registered from it too, not from the office
    "sip-ipbx": _C, "poste-101": _C, "poste-102": _N,
}
NOTES = {
    "01": "serveur Zabbix (10.77.1.60) qui supervise srv-fic (10.77.1.61) par son agent, disponible ; IPBX "
          "(Kamailio, 10.77.1.25) : poste 101 enregistré depuis le poste d'accueil (.26), 102 depuis celui du "
          "bureau (.27).",
    "02": "srv-fic défini dans Zabbix comme demandé, mais son agent répond à Server=10.77.2.6 au lieu de .60 : "
          "agent indisponible, aucune valeur collectée ; poste 102 enregistré depuis le poste d'accueil (.26) "
          "et non depuis celui du bureau (.27), qui porte le compte 103.",
    "03": "serveur Zabbix (10.77.3.60), srv-fic, IPBX (10.77.3.25) et postes éteints.",
}


def address(candidate: str, machine: str) -> str:
    return f"10.77.{int(candidate)}.{NUMBERS[machine]}"


# --- Zabbix ---------------------------------------------------------------------------------------

def _define_and_wait(candidate: str) -> Callable[[HostShell], None]:
    """The server's setup: srv-fic defined through the API (as a candidate does), then its planted state awaited."""
    agent_ok = candidate == "01"

    def setup(shell: HostShell) -> None:
        auth = zabbix.admin_login(shell)
        zabbix.create_host(
            shell, auth, MONITORED, address(candidate, MONITORED),
            items=({"name": "Agent joignable", "key_": "agent.ping", "value_type": 3, "delay": "5s"},
                   {"name": "Service SSH", "key_": "net.tcp.service[ssh]", "value_type": 3, "delay": "5s"}),
            triggers=({"description": "SSH arrêté sur {HOST.NAME}", "priority": 4,
                       "expression": f"last(/{MONITORED}/net.tcp.service[ssh])=0"},))
        deadline = time.monotonic() + ZABBIX_DEADLINE
        while time.monotonic() < deadline:
            if _zabbix_settled(shell, auth, agent_ok):
                return
            time.sleep(1)
        raise LabError(f"Zabbix du candidat {candidate} : disponibilité de l'agent de {MONITORED} non décidée "
                       f"après {ZABBIX_DEADLINE:.0f} s")
    return setup


def _zabbix_settled(shell: HostShell, auth: str, agent_ok: bool) -> bool:
    """The server agrees with the planted agent: available with an SSH value (01), or unavailable (02)."""
    hosts = zabbix.api(shell, "host.get", {"output": ["host"], "selectInterfaces": ["available"],
                                           "filter": {"host": [MONITORED]}}, auth)
    available = hosts[0]["interfaces"][0]["available"] if hosts and hosts[0]["interfaces"] else "0"
    if not agent_ok:
        return bool(available == "2")
    if available != "1":
        return False
    items: list[dict[str, Any]] = zabbix.api(shell, "item.get", {"output": ["lastclock"], "hostids": [
        hosts[0]["hostid"]], "filter": {"key_": ["net.tcp.service[ssh]"]}}, auth)
    return bool(items) and items[0]["lastclock"] != "0"


def zabbix_specs(candidate: str, *, boot: bool = True) -> list[HostSpec]:
    c, server = f"c{candidate}", address(candidate, ZABBIX_SERVER)
    told = server if candidate != "02" else WRONG_SERVER
    return [
        HostSpec(name=f"{c}-{ZABBIX_SERVER}", ip=server, hostname=ZABBIX_SERVER, flavor=zabbix.ZABBIX.name,
                 boot=boot, setup=_define_and_wait(candidate) if boot else None),
        HostSpec(name=f"{c}-{MONITORED}", ip=address(candidate, MONITORED), hostname=MONITORED,
                 flavor=zabbix.ZABBIX_AGENT.name, boot=boot,
                 plant=partial(zabbix.plant_agent, server=told, hostname=MONITORED)),
    ]


# --- telephony ------------------------------------------------------------------------------------

def _wait_for_ipbx(registrar: str) -> str:
    """A drop-in for the phone's unit: baresip starts once the IPBX answers an OPTIONS (any answer), bounded;
    and stops without waiting for the IPBX's answer to its un-REGISTER."""
    return (f"[Service]\nTimeoutStartSec={PHONE_WAIT + 30}\nTimeoutStopSec={PHONE_STOP}\n"
            f"ExecStartPre=/bin/sh -c 'for i in $(seq {PHONE_WAIT}); do timeout 3 /usr/bin/sipsak -s "
            f"sip:{registrar} >/dev/null 2>&1; [ $? -le 1 ] && exit 0; sleep 1; done; exit 0'\n")


def _plant_phone(candidate: str, phone: str) -> Callable[[Path], None]:
    registrar = address(candidate, IPBX)

    def plant(root: Path) -> None:
        voip.plant_phone(root, PHONE_ACCOUNTS[candidate][phone], registrar)
        dropin = root / "etc/systemd/system" / f"{voip.PHONE_UNIT}.d"
        dropin.mkdir(parents=True, exist_ok=True)
        (dropin / "attendre-ipbx.conf").write_text(_wait_for_ipbx(registrar))
    return plant


def _registrations(candidate: str) -> Callable[[HostShell], None]:
    wanted = sorted({e for accounts in PHONE_ACCOUNTS[candidate].values() for e in accounts})

    def setup(shell: HostShell) -> None:
        if not voip.registrar_ready(shell.run, limit=60):
            raise LabError(f"Kamailio du candidat {candidate} muet après 60 s")
        if not voip.registered(shell.run, wanted, limit=REGISTRATION_DEADLINE):
            raise LabError(f"IPBX du candidat {candidate} : postes {', '.join(wanted)} non enregistrés après "
                           f"{REGISTRATION_DEADLINE:.0f} s")
    return setup


def voip_specs(candidate: str, *, boot: bool = True) -> list[HostSpec]:
    c = f"c{candidate}"
    specs = [HostSpec(name=f"{c}-{IPBX}", ip=address(candidate, IPBX), hostname=IPBX, flavor=voip.VOIP.name,
                      boot=boot, setup=_registrations(candidate) if boot else None)]
    for phone, short in ((RECEPTION, "accueil"), (OFFICE, "bureau")):
        specs.append(HostSpec(name=f"{c}-{short}", ip=address(candidate, phone), hostname=phone,
                              flavor=voip.VOIP.name, boot=boot,
                              plant=_plant_phone(candidate, phone) if boot else None))
    return specs


def room_specs() -> list[HostSpec]:
    """Every candidate's Zabbix server, supervised machine, IPBX and phones (03's down)."""
    return [s for c in ("01", "02", "03") for s in (*zabbix_specs(c, boot=c != "03"), *voip_specs(c, boot=c != "03"))]
