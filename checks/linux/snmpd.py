"""Net-SNMP agent (snmpd): SNMPv1/v2c communities and SNMPv3 users, from the files snmpd reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import field_validator

from checks._common.text import limited, said
from checks.linux._parse import (
    Dump,
    Strip,
    dump_command,
    read_dump,
    split_words,
)
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Text, Verdict
from grader.probes.ssh import ssh

# snmpd reads snmpd.conf and snmpd.local.conf in every directory of its configuration path
# (/etc/snmp, /usr/share/snmp, ...) and in its persistent directory (/var/lib/snmp on
# Debian, /var/lib/net-snmp on the RedHat family); includeDir/includeFile add more.
ALWAYS_READ = ("/etc/snmp/snmpd.conf", "/etc/snmp/snmpd.local.conf", "/usr/share/snmp/snmpd.conf",
               "/usr/share/snmp/snmpd.local.conf")
PERSISTENT = {"debian": "/var/lib/snmp/snmpd.conf", "redhat": "/var/lib/net-snmp/snmpd.conf"}
SNMP_PATHS = (*ALWAYS_READ, "/etc/snmp/snmpd.conf.d/*", *PERSISTENT.values())

USM_NO_AUTH = ".1.3.6.1.6.3.10.1.1.1"
USM_NO_PRIV = ".1.3.6.1.6.3.10.1.2.1"
_LEVELS = {"noauth": "noauth", "noauthnopriv": "noauth", "auth": "auth", "authnopriv": "auth",
           "priv": "priv", "authpriv": "priv"}
_RANK = {"noauth": 0, "auth": 1, "priv": 2}


@dataclass
class Directive:
    path: str
    line: int
    token: str  # lowercase
    words: list[str]

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Config:
    directives: list[Directive] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    incomplete: bool = False


def read_config(dump: Dump) -> Config:
    """Every directive of the files snmpd reads (includeDir/includeFile followed)."""
    config = Config()
    family = dump.family or "other"
    roots = list(ALWAYS_READ) + ([PERSISTENT[family]] if family in PERSISTENT else list(PERSISTENT.values()))
    files = {f.path: f for f in dump.files if f.lines is not None}
    queue = [p for p in roots if p in files]
    seen: set[str] = set()
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        f = files[path]
        config.read.append(path)
        config.incomplete = config.incomplete or not f.complete
        for number, raw in f.numbered():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            words = split_words(line)
            token = words[0].lower()
            config.directives.append(Directive(path, number, token, words[1:]))
            if token == "includedir" and len(words) > 1:
                directory = words[1].rstrip("/")
                queue += sorted(p for p, g in files.items() if g.directory == directory and p.endswith(".conf")
                                and len(g.name) > 5)
            elif token == "includefile" and len(words) > 1 and words[1] in files:
                queue.append(words[1])
    config.unread = [p for p in files if p not in seen]
    return config


def _strip_flags(words: list[str], flags: tuple[str, ...]) -> list[str]:
    """Drop leading ``-x VALUE`` option pairs."""
    while len(words) >= 2 and words[0] in flags:
        words = words[2:]
    return words


@dataclass(frozen=True)
class Community:
    name: str
    access: str  # ro | rw | none | indéterminé
    source: str
    where: str
    directive: str

    def describe(self) -> str | Msg:
        if self.access == "indéterminé":
            return Msg("{name} (indéterminé, source {source}) [{directive}, {where}]", name=self.name,
                       source=self.source, directive=self.directive, where=self.where)
        return f"{self.name} ({self.access}, source {self.source}) [{self.directive}, {self.where}]"


def communities(config: Config) -> list[Community]:
    out: list[Community] = []
    for d in config.directives:
        words = d.words
        if d.token in ("rocommunity", "rwcommunity", "rocommunity6", "rwcommunity6"):
            words = _strip_flags(words, ("-v",))
            if not words:
                continue
            access = "rw" if d.token.startswith("rw") else "ro"
            out.append(Community(words[0], access, words[1] if len(words) > 1 else "default", d.where, d.token))
        elif d.token == "authcommunity" and len(d.words) >= 2:
            types = d.words[0].lower().split(",")
            access = "rw" if "write" in types else "ro" if "read" in types else "none"
            rest = _strip_flags(d.words[1:], ("-v",))
            if rest:
                out.append(Community(rest[0], access, rest[1] if len(rest) > 1 else "default", d.where, d.token))
        elif d.token in ("com2sec", "com2sec6"):
            rest = _strip_flags(words, ("-Cn",))
            if len(rest) >= 3:
                out.append(Community(rest[2], "indéterminé", rest[1], d.where, d.token))
    return out


@dataclass(frozen=True)
class Access:
    user: str
    level: str  # noauth | auth | priv
    explicit: bool
    write: bool
    where: str
    directive: str

    def describe(self) -> Msg:
        return Msg("{directive} {user} (niveau {level}) [{where}]", directive=self.directive, user=self.user,
                   level=self.level if self.explicit else Msg("{level} par défaut", level=self.level),
                   where=self.where)


def accesses(config: Config) -> list[Access]:
    out: list[Access] = []
    for d in config.directives:
        if d.token in ("rouser", "rwuser"):
            write, words = d.token == "rwuser", d.words
        elif d.token == "authuser" and d.words:
            types = d.words[0].lower().split(",")
            if "read" not in types and "write" not in types:
                continue
            write, words = "write" in types, d.words[1:]
        else:
            continue
        model = "usm"
        if len(words) >= 2 and words[0] == "-s":
            model, words = words[1].lower(), words[2:]
        if not words or model not in ("usm", "any"):
            continue
        explicit = len(words) > 1
        level = _LEVELS.get(words[1].lower(), "?") if explicit else "auth"
        out.append(Access(words[0], level, explicit, write, d.where, d.token))
    return out


@dataclass(frozen=True)
class UsmUser:
    name: str
    auth: str | None  # protocol name or OID, None when without authentication
    priv: str | None
    where: str
    directive: str
    note: str | Msg = ""

    def describe(self) -> Msg:
        text = Msg("{directive} {name} auth={auth} priv={priv} [{where}]", directive=self.directive, name=self.name,
                   auth=self.auth or Msg("aucune"), priv=self.priv or Msg("aucun"), where=self.where)
        return Msg("{text} — {note}", text=text, note=self.note) if self.note else text


def decode_octets(word: str) -> str | None:
    """net-snmp's saved octet string: "text" (already unquoted) or 0x hex (trailing NULs dropped)."""
    if word.lower().startswith("0x"):
        try:
            return bytes.fromhex(word[2:]).rstrip(b"\0").decode("utf-8", "replace")
        except ValueError:
            return None
    return word


def users(config: Config) -> list[UsmUser]:
    out: list[UsmUser] = []
    engines = {d.path: d.words[0].lower() for d in config.directives if d.token == "oldengineid" and d.words}
    for d in config.directives:
        if d.token == "createuser":
            words = list(d.words)
            if words and words[0] == "-M":
                words = words[1:]
            words = _strip_flags(words, ("-e",))
            if not words:
                continue
            name, rest = words[0], words[1:]
            auth = rest[0].upper() if rest else None
            after = rest[1:]
            if after and after[0] in ("-m", "-l"):
                after = after[2:]
            else:
                after = after[1:]
            priv = after[0].upper() if after else None
            out.append(UsmUser(name, auth, priv, d.where, "createUser"))
        elif d.token == "usmuser" and len(d.words) >= 10:
            w = d.words
            decoded = decode_octets(w[3])
            if decoded is None:
                continue
            auth = None if w[6] in ("NULL", USM_NO_AUTH) else w[6]
            priv = None if w[8] in ("NULL", USM_NO_PRIV) else w[8]
            note: str | Msg = ""
            if w[0] != "1":
                note = Msg("état {state} (inactif)", state=w[0])
            engine = engines.get(d.path)
            if engine and w[2].lower() != engine:
                note = Msg("identifiant de moteur différent de celui de l'agent")
            out.append(UsmUser(decoded, auth, priv, d.where, "usmUser", note))
    return out


def _load(r: ProbeResult, expected: Msg) -> Config | Verdict:
    dump = read_dump(r, expected, need_family=True)
    if isinstance(dump, Verdict):
        return dump
    config = read_config(dump)
    if not config.read:
        return Verdict.non_conforme(Msg("aucun fichier de configuration snmpd"), expected,
                                    Msg("snmpd n'est pas configuré sur cet hôte (/etc/snmp/snmpd.conf absent)."))
    config.incomplete = config.incomplete or r.truncated
    return config


def _snmp_probe() -> Probe:
    return ssh(dump_command(SNMP_PATHS, family=True, strip=Strip()))


class SnmpdCommunity(Check):
    """L'agent SNMP accepte la communauté {community} (accès {access}).

    From the files snmpd reads (/etc/snmp/snmpd.conf, snmpd.conf.d/*.conf only when an
    ``includeDir`` names it, snmpd.local.conf, /usr/share/snmp, the persistent file).
    ``rocommunity``/``rocommunity6`` give read access, ``rwcommunity``/``rwcommunity6``
    read-write, ``authcommunity`` what its types say. For ``ro``, a community that also has
    a read-write entry is not conforme. ``com2sec`` communities get their rights from
    group/access lines, which are not resolved: they count for ``any`` only, and make
    ``ro``/``rw`` undecidable (erreur) when nothing else decides. Names are case-sensitive.
    The host drops comment and blank lines before the output cap (a file padded with
    comments is still read whole); line numbers are the file's own.
    """

    id = "linux.snmpd_community"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        community: str
        access: Literal["ro", "rw", "any"] = "ro"

        @field_validator("community")
        @classmethod
        def _community(cls, value: str) -> str:
            if not value or any(c.isspace() for c in value):
                raise ValueError("communauté invalide (sans espace)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"snmpd": _snmp_probe()}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = Msg("communauté {community} en accès {access}", community=params.community, access=params.access)
        config = _load(results["snmpd"], expected)
        if isinstance(config, Verdict):
            return config
        found = communities(config)
        mine = [c for c in found if c.name == params.community]
        shown: Text = said(limited([c.describe() for c in found])) if found else Msg("aucune communauté définie")
        observed: Text = shown
        ro = [c for c in mine if c.access == "ro"]
        rw = [c for c in mine if c.access == "rw"]
        unknown = [c for c in mine if c.access == "indéterminé"]
        if params.access == "any" and (ro or rw or unknown):
            return Verdict.conforme(observed, expected, Msg("La communauté {community} est définie.",
                                                            community=params.community))
        if params.access == "rw" and rw:
            return Verdict.conforme(observed, expected, Msg("La communauté {community} est en lecture-écriture.",
                                                            community=params.community))
        if params.access == "ro":
            if rw:
                return Verdict.non_conforme(observed, expected,
                                            Msg("La communauté {community} donne aussi l'accès en écriture.",
                                                community=params.community))
            if ro and not unknown:
                return Verdict.conforme(observed, expected, Msg("La communauté {community} est en lecture seule.",
                                                                community=params.community))
        if unknown:
            return Verdict.erreur(Msg("communauté définie par com2sec : droits fixés par group/access, non vérifiés"),
                                  observed=observed, expected=expected)
        if config.incomplete:
            return Verdict.erreur(Msg("configuration lue en partie seulement"), observed=observed, expected=expected)
        if mine:
            return Verdict.non_conforme(observed, expected,
                                        Msg("La communauté {community} n'a pas l'accès {access}.",
                                            community=params.community, access=params.access))
        if config.unread:
            observed = Msg("{shown} ; non lus par snmpd : {files}", shown=shown, files=", ".join(config.unread))
        return Verdict.non_conforme(observed, expected,
                                    Msg("La communauté {community} n'est pas définie dans la configuration lue.",
                                        community=params.community))


class SnmpdV3User(Check):
    """L'agent SNMP accepte l'utilisateur SNMPv3 {user} avec le niveau de sécurité {level}.

    Two facts are needed. Access: a ``rouser``/``rwuser``/``authuser`` line for the user whose
    minimum level is at least ``level`` (a line without level means ``auth``, so ``priv``
    requires ``rouser USER priv`` or ``authpriv``). Keys: the user is known to the agent, by a
    ``createUser`` line (in /etc/snmp/snmpd.conf, /usr/share/snmp/snmpd.conf or the
    persistent file) or by the ``usmUser`` line snmpd writes in its persistent file
    (/var/lib/snmp/snmpd.conf on Debian) once it has read a createUser; the user name is
    stored quoted or hex-encoded (0x...) there. ``priv`` also needs a privacy protocol.
    Passphrases are never copied into the observation.
    """

    id = "linux.snmpd_v3_user"
    usually_serves = ("CP13.2",)
    example = "{user: supervision, level: priv}"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        user: str
        level: Literal["auth", "priv"] = "priv"

        @field_validator("user")
        @classmethod
        def _user(cls, value: str) -> str:
            if not value or any(c.isspace() for c in value):
                raise ValueError("nom d'utilisateur SNMPv3 invalide (sans espace)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"snmpd": _snmp_probe()}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = Msg("utilisateur {user}, niveau {level}", user=params.user, level=params.level)
        config = _load(results["snmpd"], expected)
        if isinstance(config, Verdict):
            return config
        rights = [a for a in accesses(config) if a.user == params.user]
        keys = [u for u in users(config) if u.name == params.user]
        lines = [*(a.describe() for a in rights), *(u.describe() for u in keys)]
        observed = said(limited(lines)) if lines else Msg("aucune ligne pour cet utilisateur")
        need = _RANK[params.level]
        good_rights = [a for a in rights if _RANK.get(a.level, -1) >= need]
        good_keys = [u for u in keys if not u.note and u.auth and (params.level == "auth" or u.priv)]
        problems = []
        if not rights:
            problems.append(Msg("aucun droit d'accès (rouser/rwuser) pour cet utilisateur"))
        elif not good_rights:
            problems.append(Msg("le niveau minimal exigé par rouser/rwuser est inférieur à {level}",
                                level=params.level))
        if not keys:
            problems.append(Msg("utilisateur inconnu de l'agent (ni createUser ni usmUser)"))
        elif not good_keys:
            problems.append(Msg("l'utilisateur n'a pas les clés nécessaires au niveau {level}", level=params.level))
        if not problems:
            return Verdict.conforme(observed, expected,
                                    Msg("L'utilisateur SNMPv3 {user} est défini avec le niveau {level}.",
                                        user=params.user, level=params.level))
        if config.incomplete:
            return Verdict.erreur(Msg("configuration lue en partie seulement"), observed=observed, expected=expected)
        return Verdict.non_conforme(observed, expected, Msg("SNMPv3 {user} : {problems}.",
                                                            user=params.user, problems=problems))
