"""SNMP agents seen from the grader (functional evidence over the ``snmp`` channel).

The configuration side of net-snmp lives in :mod:`checks.linux.snmpd`; these checks ask the
agent itself, with the community or SNMPv3 user given in the host's ``options.snmp`` (or the
first of its credential sets the agent answers). Every check of a host shares the same few
requests (one GET for the system group, one GETBULK stream for the interface columns and VLANs).

An agent silent to every credential set, on a host reached over another transport, was not
read: a check that asserts values (sysContact, interfaces, VLANs) says ``erreur`` (« valeurs
non lues »), never ``non_conforme``. Silence is ``non_conforme`` only where the rubric states
that answering is itself the fact: ``network.snmp_agent`` asking no value (its one fact is the
answer) or with ``answering_is_the_fact: true``, or every check of a host whose
``options.snmp.silence`` is ``non_conforme``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator

from checks._common.text import clip, commas, limited, reason_of, said
from checks.network._common import vlan_named
from checks.network._snmp import (
    DOT1Q_VLAN_STATIC_NAME,
    IF_ADMIN,
    IF_ALIAS,
    IF_DESCR,
    IF_NAME,
    IF_OPER,
    IF_STATUS,
    INTERFACES_WALK,
    SYS_CONTACT,
    SYS_DESCR,
    SYS_LOCATION,
    SYS_NAME,
    SYS_UPTIME,
    SYSTEM_GET,
    VLANS_WALK,
    norm,
)
from grader.check import TOKEN, Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict, said_as_read
from grader.probes.snmp import VarBind, by_oid, column, silent, snmp, unread


def _silence(text: str, r: ProbeResult) -> str | Msg:
    """Why the agent was silent (``text``: the probe's stderr as shown), said in the report's language when the
    snmp channel wrote it (its own words, by reference); what anything else wrote stays as read."""
    return said_as_read(text, r.stderr_ref)


def _read(r: ProbeResult, expected: str | Msg, what: Msg, *, values: Msg | None = None,
          answering_is_the_fact: bool = False) -> dict[str, VarBind] | Verdict:
    """The varbinds of a probe, or the verdict that ends the judgement (silence, unreadable output).

    A silence the channel marks as « not read » (:func:`~grader.probes.snmp.unread`) is ``erreur``
    unless the check's fact is the answer itself; a silence the rubric made the observation
    (``silence: non_conforme``) is ``non_conforme``. ``what``: what was asked of the agent;
    ``values``: what was not read (default ``what``).
    """
    if unread(r) and not answering_is_the_fact:
        return Verdict.erreur(Msg("l'agent SNMP n'a répondu à aucun jeu d'identifiants du barème : valeurs non lues "
                                  "({values})", values=values or what),
                              observed=_silence(clip(r.stderr.strip(), 600), r) or Msg("aucune réponse"),
                              expected=expected)
    if silent(r):
        return Verdict.non_conforme(_silence(clip(r.stderr.strip(), 300), r) or Msg("aucune réponse"), expected,
                                    Msg("L'agent SNMP ne répond pas au correcteur ({what}).", what=what))
    if r.exit_code != 0:
        return Verdict.erreur(Msg("requête SNMP en échec (code {code})", code=r.exit_code), observed=clip(r.stderr),
                              expected=expected)
    try:
        return by_oid(r)
    except ValueError as exc:
        return Verdict.erreur(Msg("réponse SNMP illisible : {exc}", exc=reason_of(exc)), observed=clip(r.stdout),
                              expected=expected)


_SYSTEM_FIELDS = (("sys_name", SYS_NAME, "sysName"), ("sys_contact", SYS_CONTACT, "sysContact"),
                  ("sys_location", SYS_LOCATION, "sysLocation"))


class SnmpAgent(Check):
    """L'agent SNMP répond au correcteur avec les identifiants prévus par le barème.

    One GET of the system group (sysDescr, sysUpTime, sysContact, sysName, sysLocation), sent
    with the community or SNMPv3 user of the host's ``options.snmp`` (the first credential set
    answered). When ``sys_name``, ``sys_contact`` or ``sys_location`` are given, the agent's
    values must equal them (case and runs of blanks ignored).

    An agent silent to every set is ``injoignable`` when snmp is the host's primary transport.
    On a host reached otherwise, that silence is ``non_conforme`` when answering is the fact
    the check asserts — ``answering_is_the_fact``, true by default when no value is asked — and
    ``erreur`` (values not read) when the check only asserts values; the host's
    ``options.snmp.silence: non_conforme`` makes it ``non_conforme`` in every case. Refused
    SNMPv3 credentials are ``erreur`` (the rubric's may be wrong).
    """

    id = "network.snmp_agent"
    platform = "any"
    transport = "snmp"

    class Params(CheckParams):
        sys_name: str | None = None
        sys_contact: str | None = None
        sys_location: str | None = None
        #: The agent must answer the grader: its silence (to every credential set) is non conforme.
        #: Default: true when no value is asked (the answer is then the check's one fact), false
        #: otherwise (silence only means the values could not be read: erreur).
        answering_is_the_fact: bool | None = None

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"system": snmp(SYSTEM_GET)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        wanted = {label: getattr(params, name) for name, _, label in _SYSTEM_FIELDS if getattr(params, name)}
        asked: str | Msg = ""
        for label, value in wanted.items():
            asked = Msg("{previous}, {label} = « {value} »", previous=asked, label=label, value=value)
        expected = Msg("réponse de l'agent{values}", values=asked)
        fact = params.answering_is_the_fact
        if fact is None:
            fact = not wanted
        got = _read(results["system"], expected, Msg("identifiants du barème"), values=Msg("groupe system"),
                    answering_is_the_fact=fact)
        if isinstance(got, Verdict):
            return got
        values = {label: got.get(oid) for _, oid, label in _SYSTEM_FIELDS}
        values["sysDescr"] = got.get(SYS_DESCR)
        shown: list[str | Msg] = [Msg("{label} = « {value} »", label=label, value=clip(vb.text(), 80))
                                  if vb is not None and vb.present else
                                  Msg("{label} absent", label=label) for label, vb in values.items()]
        uptime = got.get(SYS_UPTIME)
        if uptime is not None and uptime.present:
            shown.append(f"sysUpTime = {uptime.value}")
        observed = said(limited(shown))
        if not any(vb.present for vb in got.values()):
            return Verdict.non_conforme(observed or Msg("aucune valeur"), expected,
                                        Msg("L'agent SNMP répond mais ne donne aucune valeur du groupe system (vue "
                                            "trop restreinte pour ces identifiants)."))
        wrong = []
        for label, value in wanted.items():
            vb = values[label]
            if vb is None or not vb.present:
                wrong.append(Msg("{label} n'est pas renseigné", label=label))
            elif norm(vb.text()) != norm(value):
                wrong.append(Msg("{label} vaut « {found} » au lieu de « {value} »", label=label,
                                 found=clip(vb.text(), 80), value=value))
        if wrong:
            return Verdict.non_conforme(observed, expected, Msg("L'agent SNMP répond, mais {wrong}.", wrong=wrong))
        return Verdict.conforme(observed, expected, Msg(
            "L'agent SNMP répond au correcteur avec les identifiants du barème et les valeurs attendues.") if wanted
            else Msg("L'agent SNMP répond au correcteur avec les identifiants du barème."))


class SnmpRefusesCommunity(Check):
    """L'agent SNMP ne répond pas à une communauté qui ne lui a pas été donnée.

    Active probe: the grader sends one SNMPv2c GET of sysUpTime with a wrong community —
    ``community`` when the rubric names one (``public``, say), otherwise ``grader-`` followed
    by a token drawn for this host and run, that no candidate can have configured. No answer
    is conforme; an answer is not. The agent must answer the rubric's identifiers in the same
    run (same GET as network.snmp_agent): an agent that answers nothing at all proves no
    refusal (``erreur``).
    """

    id = "network.snmp_refuses"
    usually_serves = ("CP13.2",)
    example = "{community: public}"
    platform = "any"
    transport = "snmp"

    class Params(CheckParams):
        community: str | None = None

        @field_validator("community")
        @classmethod
        def _community(cls, value: str | None) -> str | None:
            if value is not None and (not value or any(c.isspace() for c in value)):
                raise ValueError("communauté invalide (non vide, sans espace)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        wrong = params.community or f"grader-{TOKEN}"
        return {"control": snmp(SYSTEM_GET), "wrong": snmp(f"get {SYS_UPTIME} community={wrong}", active=True)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        wrong = results["wrong"]
        community = wrong.command.rpartition("community=")[2] or "?"
        expected = Msg("aucune réponse à la communauté {community}", community=community)
        control = results["control"]
        if silent(control) or control.exit_code != 0:
            return Verdict.erreur(Msg("l'agent ne répond pas non plus avec les identifiants du barème : le refus "
                                      "d'une mauvaise communauté ne peut pas être démontré"),
                                  observed=_silence(clip(control.stderr), control), expected=expected)
        if silent(wrong):
            return Verdict.conforme(Msg("aucune réponse à {community} ; réponse avec les identifiants du barème",
                                        community=community), expected,
                                    Msg("L'agent SNMP ignore la communauté {community}.", community=community))
        if wrong.exit_code != 0:
            return Verdict.erreur(Msg("requête SNMP en échec (code {code})", code=wrong.exit_code),
                                  observed=clip(wrong.stderr), expected=expected)
        return Verdict.non_conforme(Msg("réponse à {community} : {shown}", community=community,
                                        shown=clip(wrong.stdout.strip(), 200) or Msg("réponse vide")), expected,
                                    Msg("L'agent SNMP répond à la communauté {community}, qui ne lui a pas été donnée.",
                                        community=community))


class SnmpInterfaces(Check):
    """Les interfaces attendues sont publiées par l'agent SNMP (IF-MIB), dans l'état {status}.

    One GETBULK walk of ifDescr, ifName, ifAlias, ifAdminStatus and ifOperStatus. Each name
    of ``interfaces`` must match an interface's ifName, ifDescr or ifAlias (case ignored).
    ``status: up`` needs ifOperStatus up(1); ``down`` needs anything else (an administratively
    shut port is down); ``any`` only needs the interface to exist.
    """

    id = "network.snmp_interfaces"
    usually_serves = ("CP13.2",)
    example = "{interfaces: [GigabitEthernet0/1, GigabitEthernet0/2], status: up}"
    platform = "any"
    transport = "snmp"

    class Params(CheckParams):
        interfaces: list[str] = Field(min_length=1)
        status: Literal["up", "down", "any"] = "up"

        @field_validator("interfaces")
        @classmethod
        def _names(cls, value: list[str]) -> list[str]:
            if any(not name.strip() for name in value):
                raise ValueError("nom d'interface vide")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"interfaces": snmp(INTERFACES_WALK)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        names = ", ".join(params.interfaces)
        expected = names if params.status == "any" else Msg("{interfaces} : {status}", interfaces=names,
                                                              status=params.status)
        got = _read(results["interfaces"], expected, Msg("table des interfaces"))
        if isinstance(got, Verdict):
            return got
        rows = interface_rows(got)
        if not rows:
            return Verdict.non_conforme(Msg("aucune interface publiée (ifTable vide)"), expected,
                                        Msg("L'agent SNMP ne publie aucune interface."))
        missing: list[str] = []
        wrong: list[Msg] = []
        good: list[Msg] = []
        wrong_names: list[str] = []
        for name in params.interfaces:
            row = find_interface(rows, name)
            if row is None:
                missing.append(name)
                continue
            state = row["oper"]
            text = Msg("{name} : {state}{admin}", name=name, state=state,
                       admin=f" (admin {row['admin']})" if row["admin"] not in ("up", "?") else "")
            ok = params.status == "any" or (state == "up") == (params.status == "up")
            (good if ok else wrong).append(text)
            if not ok:
                wrong_names.append(name)
        known = limited([r["label"] for r in rows.values()], limit=300)
        states = limited([*good, *wrong, *(Msg("{name} : absente", name=m) for m in missing)])
        observed = said(states)
        if missing:
            return Verdict.non_conforme(Msg("{states} ; interfaces publiées : {known}", states=states, known=known),
                                        expected,
                                        Msg("Interface(s) introuvable(s) sur l'agent SNMP : {items}.",
                                            items=", ".join(missing)))
        if wrong:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Interface(s) qui ne sont pas dans l'état {status} : {items}.",
                                            status=params.status, items=", ".join(wrong_names)))
        return Verdict.conforme(observed, expected,
                                Msg("Les interfaces attendues sont publiées.") if params.status == "any"
                                else Msg("Les interfaces attendues sont publiées et {status}.", status=params.status))


def interface_rows(got: Mapping[str, VarBind]) -> dict[str, dict[str, str]]:
    """ifIndex -> descr, name, alias, admin, oper, label."""
    descr, name, alias = column(got, IF_DESCR), column(got, IF_NAME), column(got, IF_ALIAS)
    admin, oper = column(got, IF_ADMIN), column(got, IF_OPER)
    rows: dict[str, dict[str, str]] = {}
    for index in sorted(set(descr) | set(name), key=lambda i: tuple(int(x) for x in i.split("."))):
        def state(col: Mapping[str, VarBind], index: str = index) -> str:
            vb = col.get(index)
            return IF_STATUS.get(vb.value, str(vb.value)) if vb is not None and isinstance(vb.value, int) else "?"

        row = {"descr": descr[index].text() if index in descr else "", "name": name[index].text() if index in name else "",
               "alias": alias[index].text() if index in alias else "", "admin": state(admin), "oper": state(oper)}
        row["label"] = f"{row['name'] or row['descr']} ({row['oper']})"
        rows[index] = row
    return rows


def find_interface(rows: Mapping[str, Mapping[str, str]], wanted: str) -> Mapping[str, str] | None:
    """The row whose ifName, then ifDescr, then ifAlias equals ``wanted`` (case ignored)."""
    key = norm(wanted)
    for field_name in ("name", "descr", "alias"):
        for row in rows.values():
            if row[field_name] and norm(row[field_name]) == key:
                return row
    return None


class SnmpVlans(Check):
    """Les VLAN attendus sont déclarés sur le commutateur (Q-BRIDGE-MIB).

    One GETBULK walk of dot1qVlanStaticName (the configured VLANs, indexed by VLAN id).
    ``vlans`` maps each expected VLAN id to its expected name, or to nothing when any name
    will do (names compared without case). An agent without Q-BRIDGE-MIB (an empty table)
    cannot be judged this way (``erreur``): Cisco IOS publishes its VLANs in CISCO-VTP-MIB.
    """

    id = "network.snmp_vlans"
    usually_serves = ("CP5.1",)
    example = "{vlans: {10: ADMIN, 20: UTILISATEURS}}"
    platform = "any"
    transport = "snmp"

    class Params(CheckParams):
        vlans: dict[int, str | None] = Field(min_length=1)

        @field_validator("vlans")
        @classmethod
        def _ids(cls, value: dict[int, str | None]) -> dict[int, str | None]:
            bad = [v for v in value if not 1 <= v <= 4094]
            if bad:
                raise ValueError(f"identifiant de VLAN hors de 1-4094 : {bad}")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"vlans": snmp(VLANS_WALK)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = commas([vlan_named(vid, name) if name else str(vid) for vid, name in sorted(params.vlans.items())])
        got = _read(results["vlans"], expected, Msg("table des VLAN"))
        if isinstance(got, Verdict):
            return got
        table: dict[int, str] = {}
        for index, vb in column(got, DOT1Q_VLAN_STATIC_NAME).items():
            if index.isdigit():
                table[int(index)] = vb.text()
        if not table:
            return Verdict.erreur(Msg("l'agent ne publie pas dot1qVlanStaticName (Q-BRIDGE-MIB) : VLAN illisibles "
                                      "ainsi"), observed=Msg("table dot1qVlanStaticTable vide"), expected=expected)
        observed = said(limited([vlan_named(vid, name) for vid, name in sorted(table.items())], limit=300))
        missing = [vid for vid in params.vlans if vid not in table]
        renamed = [Msg("{vid} s'appelle « {found} » et non « {name} »", vid=vid, found=table[vid], name=name)
                   for vid, name in sorted(params.vlans.items())
                   if name and vid in table and norm(table[vid]) != norm(name)]
        if missing or renamed:
            parts = ([Msg("VLAN absent(s) : {items}",
                          items=", ".join(map(str, sorted(missing))))] if missing else []) + renamed
            return Verdict.non_conforme(observed, expected,
                                        Msg("Les VLAN ne sont pas ceux attendus : {parts}.", parts=parts))
        return Verdict.conforme(observed, expected, Msg("Les VLAN attendus sont déclarés sur le commutateur."))
