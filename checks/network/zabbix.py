"""Supervision (CP13) with Zabbix: what the running server monitors and sees, read through its API.

A host defined in Zabbix proves only that someone filled in a form: the checks also read what the
server itself concluded (the agent interface's availability, the last value and time of an item, a
trigger's state, the current problems), so that a host whose agent is never reached, or a server
that stopped collecting, is not taken for a working supervision. Times are judged by the server's
own clock (the API's HTTP ``Date``). The API is read with a read-only API token; a refused token or
an API that cannot answer is ``erreur``, never ``non_conforme``; a token that sees no host at all
cannot prove one is missing (its user group lacks read rights): ``erreur`` too.

Checks are pure judges over :class:`checks.network._monitoring.Answer`; the back-end (``zabbix``)
says how the answer is asked and read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator

from checks._common.text import clip, limited, reason_of
from checks.network._monitoring import AVAILABLE, BACKENDS, UNAVAILABLE, UNKNOWN, Answer, Host, Interface
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict

HOST_EXAMPLE = "c{{ candidat }}-srv"
#: How the evidence says the server's verdict on an interface (translated).
AVAILABILITY = {AVAILABLE: Msg("disponible"), UNAVAILABLE: Msg("indisponible"), UNKNOWN: Msg("inconnue")}


class MonitoringParams(CheckParams):
    #: The supervision server's API: ``zabbix`` (JSON-RPC, API token, the ``zabbix`` channel).
    backend: Literal["zabbix"] = "zabbix"
    #: The monitored host, by its technical name (``host``) or visible name in Zabbix.
    host: str = Field(min_length=1)


def read_answer(params: MonitoringParams, result: ProbeResult, expected: str | Msg) -> Answer | Verdict:
    """The API's answer, or the ``erreur`` verdict saying why it cannot be judged."""
    if result.exit_code != 0:
        return Verdict.erreur(Msg("l'API de supervision a refusé la requête : {reason}",
                                  reason=clip(result.stderr.strip(), 200) or Msg("code {code}", code=result.exit_code)),
                              expected=expected)
    if result.truncated:
        return Verdict.erreur(Msg("réponse de l'API de supervision tronquée"), expected=expected)
    try:
        return BACKENDS[params.backend].parse(result.stdout)
    except (ValueError, TypeError, AttributeError) as exc:
        return Verdict.erreur(Msg("réponse de l'API de supervision illisible : {exc}", exc=reason_of(exc)),
                              observed=clip(result.stdout), expected=expected)


def find_host(params: MonitoringParams, answer: Answer, expected: str | Msg) -> Host | Verdict:
    """The one host the rubric names, or the verdict when it is not there (or cannot be told apart)."""
    if len(answer.hosts) == 1:
        return answer.hosts[0]
    if len(answer.hosts) > 1:
        return Verdict.erreur(Msg("plusieurs hôtes portent le nom {host} dans Zabbix", host=params.host),
                              expected=expected)
    if answer.visible_hosts == 0:
        return Verdict.erreur(Msg("le jeton d'API ne voit aucun hôte : donnez à son groupe d'utilisateurs le droit "
                                  "de lecture sur les groupes d'hôtes"), expected=expected)
    return Verdict.non_conforme(Msg("hôte {host} absent ({count} hôtes visibles par le jeton, Zabbix {version})",
                                    host=params.host, count=answer.visible_hosts, version=answer.version),
                                expected, Msg("L'hôte {host} n'est pas défini dans Zabbix.", host=params.host))


def answer_about(params: MonitoringParams, result: ProbeResult, expected: str | Msg) -> tuple[Answer, Host] | Verdict:
    """The API's answer and the rubric's host in it, or the verdict saying why the check stops there."""
    answer = read_answer(params, result, expected)
    if isinstance(answer, Verdict):
        return answer
    host = find_host(params, answer, expected)
    return host if isinstance(host, Verdict) else (answer, host)


def _age(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


def _templates(host: Host) -> str | Msg:
    return ", ".join(host.templates) or Msg("aucun")


class _MonitoringCheck(Check):
    platform = "linux"
    transport = "zabbix"
    usually_serves = ("CP13.2",)
    query = "host"

    def probes(self, params: MonitoringParams) -> Mapping[str, Probe]:
        return {"api": BACKENDS[params.backend].probe(self.query, params.host, getattr(params, "key", None))}


class ZabbixHost(_MonitoringCheck):
    """L'hôte {host} est supervisé par Zabbix, avec son interface et ses modèles.

    ``host.get`` through the API: the host exists (technical or visible name) and is enabled
    (« Surveillé »); when ``address`` is given, one of its interfaces of kind ``interface``
    (``agent`` by default, or ``snmp``) connects to that IP or DNS name (and ``port`` when given);
    every entry of ``templates`` is linked (a part of the template's name, case ignored).
    """

    id = "supervision.zabbix_host"
    example = "{host: '" + HOST_EXAMPLE + "', address: 10.77.1.10, templates: [Linux by Zabbix agent]}"

    class Params(MonitoringParams):
        address: str | None = None
        interface: Literal["agent", "snmp", "ipmi", "jmx"] = "agent"
        port: int | None = Field(default=None, ge=1, le=65535)
        templates: list[str] = Field(default_factory=list)

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = Msg("hôte {host} surveillé, interface {kind} {address}, modèles : {templates}", host=params.host,
                       kind=params.interface, address=params.address or "?",
                       templates=", ".join(params.templates) or "—")
        read = answer_about(params, results["api"], expected)
        if isinstance(read, Verdict):
            return read
        _answer, host = read
        observed = Msg("{host} ({state}) ; interfaces : {interfaces} ; modèles : {templates}", host=host.name,
                       state=Msg("surveillé") if host.enabled else Msg("désactivé"),
                       interfaces=", ".join(i.show() for i in host.interfaces) or Msg("aucune"),
                       templates=_templates(host))
        wrong: list[Msg] = []
        if not host.enabled:
            wrong.append(Msg("l'hôte est désactivé (non surveillé)"))
        if params.address is not None:
            kinds = [i for i in host.interfaces if i.kind == params.interface]
            if not any(i.address.casefold() == params.address.casefold()
                       and (params.port is None or i.port == str(params.port)) for i in kinds):
                wrong.append(Msg("aucune interface {kind} vers {address}", kind=params.interface,
                                 address=f"{params.address}:{params.port}" if params.port else params.address))
        linked = [t.casefold() for t in host.templates]
        missing = [t for t in params.templates if not any(t.casefold() in name for name in linked)]
        if missing:
            wrong.append(Msg("modèles non liés : {templates}", templates=", ".join(missing)))
        if wrong:
            return Verdict.non_conforme(observed, expected, Msg("Supervision de {host} incomplète : {wrong}.",
                                                                host=params.host, wrong=limited(wrong)))
        return Verdict.conforme(observed, expected, Msg("L'hôte {host} est supervisé par Zabbix.", host=params.host))


def _agent_interface(host: Host) -> Interface | None:
    agents = [i for i in host.interfaces if i.kind == "agent"]
    return next((i for i in agents if i.main), agents[0] if agents else None)


class ZabbixAgent(_MonitoringCheck):
    """L'agent Zabbix de {host} est disponible (vert) et ses valeurs arrivent.

    The server's own verdict on the host's main agent interface (``available``): disponible,
    and at least one enabled passive agent item of the host collected less than ``max_age``
    seconds ago by the server's clock (a stopped server leaves the last verdict green in its
    database: the fresh value proves it still polls). Unavailable (red) is non conforme, with
    the server's error (« connection refused », « connection rejected »: the agent's ``Server=``).
    Never polled yet (grey) is ``erreur``: the server has not concluded.
    """

    id = "supervision.zabbix_agent"
    example = "{host: '" + HOST_EXAMPLE + "'}"

    class Params(MonitoringParams):
        max_age: int = Field(default=300, ge=10, le=86400)

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = Msg("agent de {host} disponible, valeur reçue depuis moins de {age}", host=params.host,
                       age=_age(params.max_age))
        read = answer_about(params, results["api"], expected)
        if isinstance(read, Verdict):
            return read
        answer, host = read
        interface = _agent_interface(host)
        if interface is None:
            return Verdict.non_conforme(Msg("{host} : aucune interface agent", host=host.name), expected,
                                        Msg("L'hôte {host} n'a pas d'interface agent Zabbix.", host=params.host))
        shown = Msg("interface {interface} : {availability}", interface=interface.show(),
                    availability=AVAILABILITY[interface.availability])
        if interface.error:
            shown = Msg("{shown} ({error})", shown=shown, error=clip(interface.error, 200))
        if not host.enabled:
            return Verdict.non_conforme(Msg("{shown} ; hôte désactivé", shown=shown), expected,
                                        Msg("L'hôte {host} est désactivé dans Zabbix.", host=params.host))
        if interface.availability == UNAVAILABLE:
            return Verdict.non_conforme(shown, expected, Msg("L'agent Zabbix de {host} est indisponible pour le "
                                                             "serveur.", host=params.host))
        if interface.availability != AVAILABLE:
            return Verdict.erreur(Msg("Zabbix n'a pas encore interrogé l'agent de {host} (disponibilité inconnue)",
                                      host=params.host), observed=shown, expected=expected)
        last = max(host.agent_clocks, default=0)
        if answer.now is None:
            return Verdict.erreur(Msg("heure du serveur Zabbix inconnue : fraîcheur non vérifiable"), observed=shown,
                                  expected=expected)
        if last == 0:
            return Verdict.erreur(Msg("aucune valeur reçue de l'agent : la disponibilité affichée n'est pas confirmée"),
                                  observed=shown, expected=expected)
        age = answer.now - last
        observed = Msg("{shown} ; dernière valeur il y a {age}", shown=shown, age=_age(max(age, 0)))
        if age > params.max_age:
            return Verdict.erreur(Msg("la dernière valeur de l'agent date de {age} : le serveur ne collecte plus, "
                                      "disponibilité non confirmée", age=_age(age)), observed=observed,
                                  expected=expected)
        return Verdict.conforme(observed, expected, Msg("L'agent Zabbix de {host} est disponible.", host=params.host))


class ZabbixItem(_MonitoringCheck):
    """L'élément {key} de {host} a une valeur récente.

    ``item.get``: the item with that exact key exists on the host, is enabled and supported,
    and its last value was collected less than ``max_age`` seconds ago by the server's clock.
    With ``value`` (a regular expression), the last value must match it.
    """

    id = "supervision.zabbix_item"
    example = "{host: '" + HOST_EXAMPLE + "', key: 'net.tcp.service[ssh]', max_age: 300, value: '^1$'}"
    query = "items"

    class Params(MonitoringParams):
        key: str = Field(min_length=1)
        max_age: int = Field(default=300, ge=10, le=86400)
        value: str | None = None

        @model_validator(mode="after")
        def _pattern(self) -> ZabbixItem.Params:
            if self.value is not None:
                try:
                    re.compile(self.value)
                except re.error as exc:
                    raise ValueError(f"value : expression régulière invalide ({exc})") from None
            return self

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = Msg("{key} sur {host} : valeur de moins de {age}", key=params.key, host=params.host,
                       age=_age(params.max_age))
        if params.value is not None:
            expected = Msg("{expected}, conforme à {value}", expected=expected, value=params.value)
        read = answer_about(params, results["api"], expected)
        if isinstance(read, Verdict):
            return read
        answer, host = read
        if not answer.items:
            return Verdict.non_conforme(Msg("{host} : aucun élément {key}", host=host.name, key=params.key), expected,
                                        Msg("L'élément {key} n'existe pas sur {host}.", key=params.key,
                                            host=params.host))
        item = answer.items[0]
        if not item.enabled:
            return Verdict.non_conforme(Msg("{key} désactivé", key=item.key), expected,
                                        Msg("L'élément {key} est désactivé.", key=params.key))
        if not item.supported:
            return Verdict.non_conforme(Msg("{key} non supporté : {error}", key=item.key, error=clip(item.error, 200)),
                                        expected, Msg("Zabbix ne peut pas collecter {key} sur {host}.", key=params.key,
                                                      host=params.host))
        if item.lastclock == 0:
            return Verdict.non_conforme(Msg("{key} : aucune valeur reçue", key=item.key), expected,
                                        Msg("L'élément {key} n'a jamais reçu de valeur.", key=params.key))
        if answer.now is None:
            return Verdict.erreur(Msg("heure du serveur Zabbix inconnue : fraîcheur non vérifiable"), expected=expected)
        age = answer.now - item.lastclock
        observed = Msg("{key} = {value} il y a {age}", key=item.key, value=clip(item.lastvalue + item.units, 80),
                       age=_age(max(age, 0)))
        if age > params.max_age:
            return Verdict.non_conforme(observed, expected, Msg("La dernière valeur de {key} date de {age}.",
                                                                key=params.key, age=_age(age)))
        if params.value is not None and not re.search(params.value, item.lastvalue):
            return Verdict.non_conforme(observed, expected, Msg("La dernière valeur de {key} n'est pas celle attendue.",
                                                                key=params.key))
        return Verdict.conforme(observed, expected, Msg("L'élément {key} de {host} est collecté.", key=params.key,
                                                        host=params.host))


class ZabbixTrigger(_MonitoringCheck):
    """Un déclencheur activé surveille un service de {host}.

    ``trigger.get``: among the host's triggers (own and inherited from templates), one whose
    description (macros expanded) contains ``trigger`` (case ignored) and/or whose items include the
    key ``key`` (a service: ``net.tcp.service[ssh]``, ``proc.num[sshd]``) is enabled, on enabled
    items; one the server cannot evaluate (state unknown) is reported with its error.
    """

    id = "supervision.zabbix_trigger"
    example = "{host: '" + HOST_EXAMPLE + "', key: 'net.tcp.service[ssh]', trigger: SSH}"
    query = "triggers"

    class Params(MonitoringParams):
        trigger: str | None = None
        key: str | None = None

        @model_validator(mode="after")
        def _what(self) -> ZabbixTrigger.Params:
            if not (self.trigger or self.key):
                raise ValueError("trigger ou key : dites quel déclencheur chercher")
            return self

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        wanted = " / ".join(x for x in (params.trigger, params.key) if x)
        expected = Msg("déclencheur activé sur {host} : {wanted}", host=params.host, wanted=wanted)
        read = answer_about(params, results["api"], expected)
        if isinstance(read, Verdict):
            return read
        answer, host = read
        matching = [t for t in answer.triggers
                    if (params.trigger is None or params.trigger.casefold() in t.description.casefold())
                    and (params.key is None or params.key in t.item_keys)]
        if not matching:
            return Verdict.non_conforme(Msg("{count} déclencheurs sur {host}, aucun pour {wanted}",
                                            count=len(answer.triggers), host=host.name, wanted=wanted), expected,
                                        Msg("Aucun déclencheur ne surveille {wanted} sur {host}.", wanted=wanted,
                                            host=params.host))
        active = [t for t in matching if t.enabled and t.items_enabled]
        shown = [Msg("« {description} » ({state})", description=t.description,
                     state=(Msg("activé") if t.enabled and t.items_enabled else Msg("désactivé")) if t.known else
                     Msg("inconnu : {error}", error=clip(t.error, 120))) for t in matching]
        observed = Msg("{host} : {triggers}", host=host.name, triggers=limited(shown))
        if not active:
            return Verdict.non_conforme(observed, expected, Msg("Le déclencheur {wanted} de {host} est désactivé.",
                                                                wanted=wanted, host=params.host))
        if not host.enabled:
            return Verdict.non_conforme(observed, expected, Msg("L'hôte {host} est désactivé dans Zabbix.",
                                                                host=params.host))
        return Verdict.conforme(observed, expected, Msg("Un déclencheur activé surveille {wanted} sur {host}.",
                                                        wanted=wanted, host=params.host))


class ZabbixProblem(_MonitoringCheck):
    """La liste des problèmes en cours de {host} est celle attendue.

    ``problem.get``: the current (unresolved) problems of the host. Each entry of ``present``
    must be part of a problem's name, none of ``absent`` may (case ignored); with neither, the
    host must have no current problem at all.
    """

    id = "supervision.zabbix_problem"
    example = "{host: '" + HOST_EXAMPLE + "', present: [HTTP], absent: [SSH]}"
    query = "problems"

    class Params(MonitoringParams):
        present: list[str] = Field(default_factory=list)
        absent: list[str] = Field(default_factory=list)

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        if params.present or params.absent:
            expected = Msg("problèmes en cours sur {host} : {present} ; aucun : {absent}", host=params.host,
                           present=", ".join(params.present) or "—", absent=", ".join(params.absent) or "—")
        else:
            expected = Msg("aucun problème en cours sur {host}", host=params.host)
        read = answer_about(params, results["api"], expected)
        if isinstance(read, Verdict):
            return read
        answer, host = read
        names = [p.name for p in answer.problems]
        observed = Msg("problèmes en cours sur {host} : {problems}", host=host.name,
                       problems=limited(names) if names else Msg("aucun"))
        folded = [n.casefold() for n in names]
        missing = [p for p in params.present if not any(p.casefold() in n for n in folded)]
        unwanted = [a for a in params.absent if any(a.casefold() in n for n in folded)]
        if not params.present and not params.absent and names:
            unwanted = names
        if missing or unwanted:
            parts = []
            if missing:
                parts.append(Msg("manquent : {items}", items=", ".join(missing)))
            if unwanted:
                parts.append(Msg("en trop : {items}", items=", ".join(unwanted)))
            return Verdict.non_conforme(observed, expected, Msg("Problèmes de {host} inattendus ({parts}).",
                                                                host=params.host, parts=limited(parts)))
        return Verdict.conforme(observed, expected, Msg("Les problèmes en cours de {host} sont ceux attendus.",
                                                        host=params.host))


CHECKS: tuple[type[Check], ...] = (ZabbixHost, ZabbixAgent, ZabbixItem, ZabbixTrigger, ZabbixProblem)
