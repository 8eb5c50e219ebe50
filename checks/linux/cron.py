"""Scheduled jobs in the cron tables that the cron daemon actually reads."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

from checks._common.params import Regex
from checks._common.text import clip, commas, limited, said
from checks.linux._parse import DumpedFile, Strip, dump_command, read_dump
from checks.linux._schedule import same_schedule, valid_schedule
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import ssh

CRON_PATHS = ("/etc/crontab", "/etc/cron.d/*", "/var/spool/cron/crontabs/*", "/var/spool/cron/*")
_KEYWORDS = {"reboot", "yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly"}
_TIME_FIELD = re.compile(r"^-?[0-9A-Za-z*,/~-]+$")
_ENV = re.compile(r"""^(?:[A-Za-z_][A-Za-z0-9_]*|"[^"]*"|'[^']*')\s*=""")
_DEBIAN_CROND_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # run-parts(8) naming: no dots
# The probe drops comment lines and blank lines on the host, before the output cap, but keeps the
# comments that read as a job (a first field starting with a digit, * or ~, then five more words, or
# @keyword and a command): a commented-out job is evidence for the jury. Prose comments that
# happen to have six words starting with letters are dropped (cron's minute field cannot start so).
STRIP = Strip(keep=r"^[[:space:]]*#[#[:space:]]*([0-9*~][^[:space:]]*([[:space:]]+[^[:space:]]+){5}"
                   r"|@[A-Za-z]+[[:space:]]+[^[:space:]])")


@dataclass(frozen=True)
class CronEntry:
    path: str
    line: int
    schedule: str
    user: str | None
    command: str
    commented: bool = False

    def describe(self) -> str:
        who = f" [{self.user}]" if self.user else ""
        return f"{self.path}:{self.line}{who} {self.schedule} {clip(self.command, 100)}"


def table_kind(f: DumpedFile, family: str, layout: str) -> tuple[str, Msg | None]:
    """("system" | "user", reason-if-cron-ignores-it) for a dumped path.

    ``family`` decides the /etc/cron.d naming rules (both sets when unknown); ``layout``
    (debian or redhat, inferred from the spool when the family is unknown) decides where
    user tables are read.
    """
    if f.path == "/etc/crontab":
        return "system", None
    if f.directory == "/etc/cron.d":
        name = f.name
        cronie_skip = (name.startswith((".", "#")) or name.endswith(("~", ".rpmsave", ".rpmorig", ".rpmnew")))
        debian_skip = not _DEBIAN_CROND_NAME.match(name)
        if family == "debian" and debian_skip:
            return "system", Msg("nom de fichier ignoré par cron (Debian : lettres, chiffres, _ et - seulement)")
        if family == "redhat" and cronie_skip:
            return "system", Msg("nom de fichier ignoré par cronie")
        if family not in ("debian", "redhat") and (debian_skip or cronie_skip):
            return "system", Msg("nom de fichier ignoré par cron")
        return "system", None
    if f.directory == "/var/spool/cron/crontabs":
        if layout == "redhat":
            return "user", Msg("emplacement non lu par cronie (RedHat : /var/spool/cron/UTILISATEUR)")
        return "user", None
    if f.directory == "/var/spool/cron":
        if layout == "debian":
            return "user", Msg("emplacement non lu par cron sur Debian (/var/spool/cron/crontabs/UTILISATEUR)")
        return "user", None
    return "user", Msg("emplacement inconnu")


def unread_reasons(f: DumpedFile, kind: str, family: str) -> list[Msg]:
    """Why cron would refuse this table (ownership, permissions, type), from cron's own rules."""
    reasons: list[Msg] = []
    if f.stat is None or f.lstat is None:
        return [Msg("pas un fichier ordinaire")]
    if not f.stat.regular:
        return [Msg("pas un fichier ordinaire ({kind})", kind=f.stat.kind)]
    mode = f.stat.mode_int
    debian = family != "redhat"
    cronie = family != "debian"
    if kind == "system":
        if f.stat.owner != "root" or f.lstat.owner != "root":
            reasons.append(Msg("propriétaire {owner} (root exigé)", owner=f.stat.owner))
        if debian and mode & 0o022:
            reasons.append(Msg("droits {mode} : modifiable par le groupe ou les autres", mode=f.stat.mode))
    else:
        if f.lstat.kind == "symbolic link":
            reasons.append(Msg("lien symbolique"))
        if debian and f.stat.owner != f.name:
            reasons.append(Msg("propriétaire {owner} (le compte {account} exigé)", owner=f.stat.owner, account=f.name))
        if cronie and not debian and f.stat.owner not in ("root", f.name):
            reasons.append(Msg("propriétaire {owner}", owner=f.stat.owner))
        if debian and mode & 0o7777 != 0o600:
            reasons.append(Msg("droits {mode} (600 exigé)", mode=f.stat.mode))
    if cronie and mode & 0o7533 != 0o400:
        reasons.append(Msg("droits {mode} refusés par cronie", mode=f.stat.mode))
    if not f.readable:
        reasons.append(Msg("illisible"))
    return reasons


def _all(reasons: list[Msg]) -> Msg:
    """The reasons as one text: « a, b, c » in French."""
    return commas(reasons)  # type: ignore[return-value]  # Msg items give a Msg


def parse_table(f: DumpedFile, system: bool) -> tuple[list[CronEntry], list[CronEntry]]:
    """(entries, commented-out entries) of one table. Variables and blank lines are skipped."""
    entries: list[CronEntry] = []
    commented: list[CronEntry] = []
    for number, raw in f.numbered():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            entry = _parse_entry(f, number, line.lstrip("#").strip(), system, commented=True)
            if entry:
                commented.append(entry)
            continue
        if _ENV.match(line) and not line[0].isdigit() and line[0] not in "*@":
            continue
        entry = _parse_entry(f, number, line, system)
        if entry:
            entries.append(entry)
    return entries, commented


def _parse_entry(f: DumpedFile, number: int, line: str, system: bool, commented: bool = False) -> CronEntry | None:
    user_field = 1 if system else 0
    if line.startswith("@"):
        parts = line.split(None, 1 + user_field)
        if len(parts) < 2 + user_field or parts[0][1:].lower() not in _KEYWORDS:
            return None
        schedule = parts[0]
    else:
        parts = line.split(None, 5 + user_field)
        if len(parts) < 6 + user_field or not all(_TIME_FIELD.match(p) for p in parts[:5]):
            return None
        schedule = " ".join(parts[:5])
        parts = [schedule, *parts[5:]]
    user = parts[1] if system else f.name
    command = parts[-1]
    return CronEntry(f.path, number, schedule, user, command, commented)


class CronEntryExists(Check):
    """Une tâche planifiée (cron) exécute une commande correspondant à {pattern}.

    One probe prints /etc/crontab, /etc/cron.d/*, /var/spool/cron/crontabs/* (Debian) and
    /var/spool/cron/* (RedHat family). Only tables the cron daemon reads count: on Debian,
    /etc/cron.d file names with a dot (``backup.sh``, ``job.bak``) are ignored, tables must
    be owned by root (system) or by their user with mode 600 (user tables), and a table
    whose last line lacks its newline is ignored entirely; cronie (RedHat) ignores
    ``*.rpmsave``/``*~`` names, group/other-writable tables and that last line. System
    tables carry a user field; user tables belong to the account they are named after.
    ``pattern`` is a Python regular expression searched in the command part; ``user``, when
    given, is the account the job runs as. Commented-out entries do not count. The host
    drops comment lines (except those that read as a job) and blank lines before the output
    cap, so a table padded with comments is still read whole; line numbers are the file's own.
    ``schedule``, when given (``"0 2 * * *"``, ``@daily``), is compared as cron reads it
    (:mod:`checks.linux._schedule`): ``00 02 * * *`` equals ``0 2 * * *``, ``@daily`` equals
    ``0 0 * * *``, ``mon-fri`` equals ``1-5``; a matching job planned at other times is non conforme.
    """

    id = "linux.cron_entry"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        pattern: Regex
        user: str | None = None
        schedule: Annotated[str, AfterValidator(valid_schedule)] | None = None

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"crontabs": ssh(dump_command(CRON_PATHS, family=True, strip=STRIP))}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["crontabs"]
        expected: str | Msg = (Msg("tâche cron active /{pattern}/ pour {user}", pattern=params.pattern, user=params.user)
                               if params.user else Msg("tâche cron active /{pattern}/", pattern=params.pattern))
        if params.schedule:
            expected = Msg("{expected}, planifiée « {schedule} »", expected=expected, schedule=params.schedule)
        dump = read_dump(r, expected, what=Msg("lecture des tables cron impossible"), need_family=True)
        if isinstance(dump, Verdict):
            return dump
        family = dump.family or "other"  # read_dump(need_family=True) has one; the dump's own word otherwise
        layout = family if family in ("debian", "redhat") else (
            "debian" if dump.get("/var/spool/cron/crontabs") else "redhat")
        regex = re.compile(params.pattern)
        good: list[CronEntry] = []
        refused: list[Msg] = []
        commented: list[CronEntry] = []
        for f in dump.files:
            if f.lines is None:
                continue  # directories (/var/spool/cron/crontabs itself), dangling links
            kind, ignored = table_kind(f, family, layout)
            entries, off = parse_table(f, system=(kind == "system"))
            wanted = [e for e in entries if regex.search(e.command) and (not params.user or e.user == params.user)]
            commented += [e for e in off if regex.search(e.command) and (not params.user or e.user == params.user)]
            if not wanted:
                continue
            if ignored:
                refused += [Msg("{entry} — {reason}", entry=e.describe(), reason=ignored) for e in wanted]
                continue
            reasons = unread_reasons(f, kind, family)
            if not f.final_newline and f.lines:
                if family == "redhat":
                    last = f.number(len(f.lines) - 1)  # the file's last line: never dropped
                    refused += [Msg("{entry} — dernière ligne sans fin de ligne, ignorée", entry=e.describe())
                                for e in wanted if e.line == last]
                    wanted = [e for e in wanted if e.line != last]
                else:
                    reasons.append(Msg("dernière ligne sans fin de ligne : fichier ignoré par cron"))
            if reasons:
                refused += [Msg("{entry} — {reason}", entry=e.describe(), reason=_all(reasons)) for e in wanted]
                continue
            good += wanted
        if good and params.schedule:
            timed = [e for e in good if same_schedule(e.schedule, params.schedule)]
            if not timed:
                return Verdict.non_conforme(said(limited([e.describe() for e in good])), expected,
                                            Msg("La tâche existe mais n'est pas planifiée « {schedule} ».",
                                                schedule=params.schedule))
            good = timed
        if good:
            return Verdict.conforme(said(limited([e.describe() for e in good])), expected,
                                    Msg("La tâche planifiée attendue est présente dans une table lue par cron."))
        if r.truncated or any(not f.complete for f in dump.files if f.lines is not None):
            return Verdict.erreur(Msg("sortie tronquée : des tables cron n'ont pas été lues en entier"),
                                  expected=expected)
        if refused:
            return Verdict.non_conforme(said(limited(refused)), expected,
                                        Msg("La tâche existe mais dans une table que cron ignore."))
        if commented:
            return Verdict.non_conforme(Msg("seulement en commentaire : {lines}",
                                            lines=limited([e.describe() for e in commented])), expected, Msg("La tâche planifiée n'existe qu'en commentaire."))
        read = [f.path for f in dump.files if f.lines is not None]
        return Verdict.non_conforme(Msg("aucune tâche correspondante ({count} table(s) lue(s))", count=len(read)),
                                    expected,
                                    Msg("Aucune tâche planifiée ne correspond."))
