"""Syslog forwarding proved end to end: a line logged on the host reaches the grader's collector
(``network.syslog_delivered``), or the candidate's own log server, read over SSH (``network.syslog_received``).

The configuration side (which rsyslog action forwards where) is :mod:`checks.linux.rsyslog`;
this check is the functional proof. Two probes: an active SSH probe runs ``logger`` on the
host with a token drawn for this host and run; then the grader-side ``syslog`` channel (its
collector listens from the start of the run, see :mod:`grader.probes.syslog`) waits
for a line carrying that token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field, field_validator

from checks._common.text import clip, limited, reason_of
from checks.network._common import Address
from grader.check import TOKEN, Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import quote
from grader.probes.ssh_peer import on_peer

TAG = "grader-probe"
TAG_LINE = re.compile(rf"-t {TAG} (\S+)")  # the token in the logger probe's command, as the runner wrote it
_HEADER = re.compile(r"^écoute (?P<listen>.+?) ; source attendue (?P<source>\S+) ; attente (?P<wait>\S+) s$")
_SATURATED = re.compile(r"^saturé (?P<lost>\d+) lignes perdues : (?P<token>\d+) portant le jeton, (?P<host>\d+) de "
                        r"(?P<source>\S+), (?P<unread>\d+) non lues \(tampon du noyau plein\), (?P<refused>\d+) "
                        r"connexions refusées$")


@dataclass(frozen=True)
class Arrival:
    kind: str  # jeton | autre
    when: str
    source: str
    port: str
    channel: str  # udp/514
    text: str


@dataclass(frozen=True)
class Saturation:
    """The collector's ``saturé`` line: what it lost that this host's line may have been part of."""

    lost: int
    token: int  # lines carrying the token, not kept
    host: int  # lines from the host's address, kept nowhere
    source: str
    unread: int  # dropped unread by the kernel since the host's grading began
    refused: int  # TCP connections refused meanwhile


@dataclass(frozen=True)
class CollectorReport:
    listen: str
    source: str
    wait: str
    lines: tuple[Arrival, ...]
    saturation: Saturation | None = None


def parse_arrivals(stdout: str) -> CollectorReport:
    """The syslog channel's report (ValueError when it does not follow the grammar)."""
    lines = stdout.splitlines()
    header = _HEADER.match(lines[0]) if lines else None
    if header is None:
        raise ValueError(Msg("en-tête du collecteur absent"))
    arrivals = []
    saturation = None
    for line in lines[1:]:
        if line.startswith("saturé "):
            full = _SATURATED.match(line)
            if full is None:
                raise ValueError(Msg("ligne du collecteur illisible : {line}", line=repr(line[:120])))
            saturation = Saturation(int(full["lost"]), int(full["token"]), int(full["host"]), full["source"],
                                    int(full["unread"]), int(full["refused"]))
            continue
        parts = line.split(" ", 4)
        if len(parts) < 4 or parts[0] not in ("jeton", "autre") or ":" not in parts[2]:
            raise ValueError(Msg("ligne du collecteur illisible : {line}", line=repr(line[:120])))
        source, _, port = parts[2].rpartition(":")
        arrivals.append(Arrival(parts[0], parts[1], source, port, parts[3], parts[4] if len(parts) > 4 else ""))
    return CollectorReport(header["listen"], header["source"], header["wait"], tuple(arrivals), saturation)


class SyslogDelivered(Check):
    """Une ligne de journal émise sur l'hôte arrive au collecteur syslog du correcteur.

    Active probes: ``/usr/bin/logger -t grader-probe <jeton>`` on the host (over SSH, in the
    batch), then the grader's collector (``options.syslog`` of the host: listening address,
    port, udp/tcp, wait) waits for a line containing the token. Conforme when the line arrives
    from the host's address (or from ``source`` when the rubric names a relay); a line that
    never arrives is not conforme, whatever the configuration says; the evidence lists what
    did arrive from the host meanwhile. When the collector lost lines that may have been this
    one (a flood filled its caps, the kernel dropped datagrams unread), a line that did not
    arrive is erreur, with what was lost: nothing can be concluded.
    """

    id = "network.syslog_delivered"
    platform = "linux"
    transport = "syslog"

    class Params(CheckParams):
        source: Address | None = None

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"logger": Probe("ssh", f"/usr/bin/logger -t {TAG} {TOKEN}", 10.0, active=True),
                "arrival": Probe("syslog", TOKEN, 30.0, active=True)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        logger, arrival = results["logger"], results["arrival"]
        token = arrival.command.strip()
        if logger.exit_code != 0:
            return Verdict.erreur(Msg("la ligne de test n'a pas pu être émise sur l'hôte (logger, code {code})",
                                      code=logger.exit_code), observed=clip(logger.stderr or logger.stdout))
        try:
            report = parse_arrivals(arrival.stdout)
        except ValueError as exc:
            return Verdict.erreur(Msg("rapport du collecteur illisible : {exc}", exc=reason_of(exc)),
                                  observed=clip(arrival.stdout))
        source = params.source or report.source
        expected = Msg("ligne « {tag}: {token} » reçue de {source} ({listen})", tag=TAG, token=clip(token, 40),
                       source=source, listen=report.listen)
        mine = [a for a in report.lines if a.kind == "jeton" and token in a.text]
        good = [a for a in mine if a.source == source]
        if good:
            a = good[0]
            return Verdict.conforme(Msg("reçue de {source} en {channel} à {when} : {text}", source=a.source,
                                        channel=a.channel, when=a.when, text=clip(a.text, 160)), expected,
                                    Msg("La ligne de test émise sur l'hôte est arrivée au collecteur."))
        if mine:
            froms = ", ".join(sorted({a.source for a in mine}))
            observed: Msg = Msg("reçue de {froms}, pas de {source} : {text}", froms=froms, source=source,
                                text=clip(mine[0].text, 160))
        else:
            others = [a for a in report.lines if a.kind == "autre"]
            if others:
                seen = limited([f"{a.when} {a.channel} : {clip(a.text, 100)}" for a in others])
                observed = Msg("aucune ligne du jeton en {wait} s ; autres lignes reçues de {source} : {seen}",
                               wait=report.wait, source=report.source, seen=seen)
            else:
                observed = Msg("aucune ligne reçue de {source} sur {listen} en {wait} s", source=report.source,
                               listen=report.listen, wait=report.wait)
        lost = report.saturation
        if lost is not None:  # the line may be among those lost: nothing is concluded
            return Verdict.erreur(Msg("collecteur syslog saturé : {lost} lignes perdues pendant la correction de "
                                      "l'hôte ({token} portant son jeton, {host} de {source}, {unread} non lues, "
                                      "{refused} connexions refusées) ; la ligne de test a pu en faire partie",
                                      lost=lost.lost, token=lost.token, host=lost.host, source=lost.source,
                                      unread=lost.unread, refused=lost.refused), observed, expected)
        if mine:
            return Verdict.non_conforme(observed, expected,
                                        Msg("La ligne de test arrive, mais depuis {froms} au lieu de {source}.",
                                            froms=froms, source=source))
        return Verdict.non_conforme(observed, expected, Msg("Configuré ou non, l'envoi des journaux ne fonctionne pas "
                                                            ": la ligne de test n'arrive jamais au collecteur."))


#: The files a Debian collector writes (rsyslog's /var/log/syslog, messages, a per-host tree under /var/log).
DEFAULT_LOG_PATHS = ("/var/log",)
_PATH = re.compile(r"^/[A-Za-z0-9._/@+-]*$")
FOUND_LINES = 3  # lines with the token shown in the evidence


def search_command(paths: tuple[str, ...] | list[str], wait: float) -> str:
    """The collector-side search: grep the token in ``paths`` every half second until found or ``wait`` spent
    (whole seconds, at least ``wait``: the shell's clock is ``date +%s``).

    Exit 0 with ``file:line`` lines when found; else 1 (read everything, nothing found) or 2 (some file
    could not be read: the unreadable ones follow ``# illisibles``, nothing can be concluded).
    """
    where = " ".join(quote(p) for p in paths)
    grep = f"/usr/bin/grep -rIsHF -m 1 -e {TOKEN} -- {where}"
    return (f"end=$(( $(/usr/bin/date +%s) + {max(1, round(wait))} )); "
            f"while :; do out=$({grep}); rc=$?; "
            f"if [ -n \"$out\" ]; then printf '%s\\n' \"$out\" | /usr/bin/head -n {FOUND_LINES}; exit 0; fi; "
            "[ \"$(/usr/bin/date +%s)\" -gt \"$end\" ] && break; /usr/bin/sleep 0.5; done; "
            f"if [ \"$rc\" -ge 2 ]; then echo '# illisibles'; /usr/bin/find {where} -type f ! -readable "
            "2>/dev/null | /usr/bin/head -n 5; exit 2; fi; exit 1")


class SyslogReceived(Check):
    """Une ligne de journal émise sur l'hôte est écrite par le serveur de journaux {collector} du candidat.

    The exam's case: the central log server is the candidate's own machine B (``collector``, its
    address; ``collector_credential``, a rubric credential to SSH on B, else the host's own;
    ``collector_sudo`` to read B's files through ``sudo -n``). Active: ``/usr/bin/logger -t
    grader-probe <jeton>`` on the host (in its batch), then, on B (``ssh_peer`` channel, after the
    host's batch), the files B's rsyslog or syslog-ng writes (``paths``, default /var/log, read
    recursively, text files only) are searched for the token until ``wait`` seconds have passed.
    Conforme when B wrote the line (the file and line are quoted); a line that never reaches B's
    files is not conforme, whatever both configurations say (forwarding configured towards B but
    B not listening, a firewall, a template writing elsewhere). When some of B's files could not
    be read (no sudo), a line not found is erreur: nothing can be concluded. B unreachable:
    injoignable. ``network.syslog_delivered`` is the same proof with the grader's own collector.
    """

    id = "network.syslog_received"
    platform = "linux"
    transport = "ssh_peer"
    usually_serves = ("CP13.3",)
    example = "{collector: 192.0.2.30, collector_sudo: true, paths: [/var/log/distants], wait: 10}"

    class Params(CheckParams):
        collector: Address
        collector_credential: str | None = None
        collector_sudo: bool = False
        collector_port: int = Field(default=22, ge=1, le=65535)
        paths: list[str] = Field(default_factory=lambda: list(DEFAULT_LOG_PATHS), min_length=1, max_length=10)
        wait: float = Field(default=10.0, gt=0, le=120)

        @field_validator("paths")
        @classmethod
        def _absolute(cls, value: list[str]) -> list[str]:
            for path in value:
                if not _PATH.match(path) or "/../" in f"{path}/":
                    raise ValueError(f"chemin absolu attendu, sans joker ni espace : {path!r}")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"logger": Probe("ssh", f"/usr/bin/logger -t {TAG} {TOKEN}", 10.0, active=True),
                "collector": on_peer(params.collector, search_command(params.paths, params.wait),
                                     credential=params.collector_credential, port=params.collector_port,
                                     sudo=params.collector_sudo, timeout=params.wait + 15.0,
                                     active=True)}  # read-only on B, but it carries the run's token

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        logger, found = results["logger"], results["collector"]
        if logger.exit_code != 0:
            return Verdict.erreur(Msg("la ligne de test n'a pas pu être émise sur l'hôte (logger, code {code})",
                                      code=logger.exit_code), observed=clip(logger.stderr or logger.stdout))
        token = TAG_LINE.search(logger.command)
        expected = Msg("ligne « {tag}: {token} » écrite par {collector} dans {paths} en {wait:g} s", tag=TAG,
                       token=clip(token.group(1) if token else "?", 40), collector=params.collector,
                       paths=", ".join(params.paths), wait=params.wait)
        lines = [line for line in found.stdout.splitlines() if line and not line.startswith("#")]
        if found.exit_code == 0 and lines and token and all(token.group(1) in line for line in lines):
            return Verdict.conforme(Msg("écrite sur {collector} : {line}", collector=params.collector,
                                        line=clip(lines[0], 200)), expected,
                                    Msg("La ligne de test émise sur l'hôte est écrite par le serveur de journaux "
                                        "du candidat."))
        if found.exit_code == 1:
            return Verdict.non_conforme(Msg("aucune ligne portant le jeton dans {paths} sur {collector} après "
                                            "{wait:g} s", paths=", ".join(params.paths), collector=params.collector,
                                            wait=params.wait), expected,
                                        Msg("Configuré ou non, l'envoi des journaux vers {collector} ne fonctionne "
                                            "pas : la ligne de test n'y est jamais écrite.",
                                            collector=params.collector))
        if found.exit_code == 2:
            unreadable = limited([line for line in found.stdout.splitlines()[1:] if line])
            return Verdict.erreur(Msg("des fichiers de {collector} sont illisibles pour le compte du correcteur "
                                      "(collector_sudo: true ?) : la ligne peut s'y trouver", collector=params.collector),
                                  Msg("illisibles : {files}", files=unreadable), expected)
        return Verdict.erreur(Msg("recherche impossible sur {collector} (code {code})", collector=params.collector,
                                  code=found.exit_code), observed=clip(found.stderr or found.stdout))
