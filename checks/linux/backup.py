"""Backups on a Linux host: restic and borg repositories, read over SSH, never written.

Both tools are run on the candidate's host (the repository is usually there, or reachable from
there: a local path, sftp:, rest:...) with the repository's password, a rubric credential
(``password_credential``): the probe receives it in its own subshell as ``$GRADER_SECRET``
(:attr:`grader.model.Probe.secret`), hands it to the tool as ``RESTIC_PASSWORD`` / ``BORG_PASSPHRASE``,
and the evidence shows the placeholder, never the password.

Nothing is written on the candidate's machine, which matters for a repository the candidate must
not see changed by the grader:

* restic (0.14 in Debian 12): ``--no-lock`` (no lock file in the repository) and ``--no-cache`` (no
  local cache under ``~/.cache/restic``);
* borg (1.2 in Debian 12): ``--bypass-lock`` (no lock in the repository), and borg's own state (the
  security directory that remembers each repository, its cache) goes to a temporary directory
  (``BORG_BASE_DIR``) made by ``mktemp`` and removed by the probe, like the envelope's own. A repository
  in *keyfile* mode needs its key: ``key_file`` names it (``BORG_KEY_FILE``), read only. Dates are read
  in UTC (``TZ=UTC``: borg prints local time).

What a selection means: restic keeps, per snapshot, the paths backed up and the host: ``path`` and
``host`` select snapshots (``--path``, ``--host``); borg archives have a name only: ``archives`` is a
glob on the names (``--glob-archives``, e.g. ``srv-lin-*``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from checks._common.backup import Backup, describe, judge_recent, latest, reference_time, when
from checks._common.text import clip
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import SECRET, quote, ssh


def _plain(value: str) -> str:
    if not value or any(ord(c) < 32 for c in value):
        raise ValueError("valeur vide ou caractère de contrôle")
    if value.startswith("-"):
        raise ValueError("une valeur ne commence pas par « - » (elle serait lue comme une option)")
    return value


class _Repository(CheckParams):
    tool: Literal["restic", "borg"]
    #: The repository as the tool names it: a path on the host (``/srv/sauvegardes/restic``) or an URL
    #: it knows (``sftp:sauvegarde@srv:/depot``, ``rest:http://…``).
    repository: str
    #: A rubric credential whose password is the repository's (``password_env``/``password_file``).
    password_credential: str | None = None
    path: str | None = None  # restic: only snapshots of this path (as backed up: absolute)
    host: str | None = None  # restic: only snapshots of this host
    archives: str | None = None  # borg: only archives whose name matches this glob
    key_file: str | None = None  # borg, keyfile mode: the key's path on the host

    @field_validator("repository", "host", "archives", "key_file", "path")
    @classmethod
    def _value(cls, value: str | None) -> str | None:
        return None if value is None else _plain(value)

    @field_validator("path", "key_file")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("chemin absolu attendu")
        return value

    @model_validator(mode="after")
    def _tool_options(self) -> _Repository:
        wrong = ([f for f in ("archives", "key_file") if getattr(self, f) is not None] if self.tool == "restic"
                 else [f for f in ("path", "host") if getattr(self, f) is not None])
        if wrong:
            raise ValueError(f"{', '.join(wrong)} ne s'applique pas à {self.tool} "
                             "(restic : path, host ; borg : archives, key_file)")
        return self


def _restic(p: _Repository, *words: str) -> str:
    password = f"RESTIC_PASSWORD={SECRET} " if p.password_credential else ""
    select = "".join(f" {flag} {quote(v)}" for flag, v in (("--path", p.path), ("--host", p.host)) if v)
    return (f"{password}/usr/bin/restic --no-lock --no-cache -r {quote(p.repository)} {words[0]}{select}"
            + "".join(f" {w}" for w in words[1:]))


# borg's state (security directory, cache) goes to a temporary directory the probe removes.
_BORG_TMP = "t=$(/usr/bin/mktemp -d /tmp/grader-borg.XXXXXXXX) || exit 125; "
_BORG_END = '; /bin/rm -rf -- "$t"; exit $rc'


def _borg(p: _Repository, *words: str) -> str:
    env = ['BORG_BASE_DIR="$t"', "TZ=UTC", "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes",
           "BORG_RELOCATED_REPO_ACCESS_IS_OK=yes", "BORG_DISPLAY_PASSPHRASE=no"]
    if p.password_credential:
        env.append(f"BORG_PASSPHRASE={SECRET}")
    if p.key_file:
        env.append(f"BORG_KEY_FILE={quote(p.key_file)}")
    select = f" --glob-archives {quote(p.archives)}" if p.archives else ""
    return f"{' '.join(env)} /usr/bin/borg --bypass-lock {words[0]}{select} " + " ".join(words[1:])


def list_probe(p: _Repository) -> Probe:
    """The repository's snapshots (restic) or archives (borg) as JSON; the same probe for every check of a repository."""
    if p.tool == "restic":
        return ssh(_restic(p, "snapshots", "--json"), timeout=60, secret=p.password_credential)
    return ssh(_BORG_TMP + _borg(p, "list", "--json", quote(p.repository)) + "; rc=$?" + _BORG_END, timeout=60,
               secret=p.password_credential)


def source_of(p: _Repository) -> Msg:
    """The source as the jury reads it: the repository and the selection."""
    chosen = [Msg("chemin {path}", path=p.path) if p.path else "", Msg("hôte {host}", host=p.host) if p.host else "",
              Msg("archives « {glob} »", glob=p.archives) if p.archives else ""]
    selection = [c for c in chosen if c]
    return Msg("{repository} ({tool}{selection})", repository=p.repository, tool=p.tool,
               selection=Msg(", {items}", items=tuple(selection)) if selection else "")


# --- reading the list ------------------------------------------------------------------------

_MISSING_REPOSITORY = (re.compile(r"unable to open config file: stat .*: no such file or directory"),  # restic
                       re.compile(r"Repository .* does not exist\."))  # borg


def _utc(text: str) -> datetime:
    """restic's RFC 3339 time (nanoseconds, Z or an offset) or borg's naive UTC time (probe run with TZ=UTC)."""
    text = text.strip().replace("Z", "+00:00")
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if m:  # Python reads at most microseconds
        text = m.group(1) + (m.group(2) or "")[:7] + m.group(3)
    at = datetime.fromisoformat(text)
    return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)


def parse_backups(tool: str, stdout: str) -> list[Backup]:
    """restic ``snapshots --json`` or borg ``list --json`` as backups (ValueError when unreadable)."""
    data = json.loads(stdout)
    if tool == "restic":
        if not isinstance(data, list):
            raise TypeError("liste de snapshots attendue")
        return [Backup(_utc(s["time"]), str(s.get("short_id") or s["id"][:8]),
                       ", ".join(s.get("paths") or []) + (f" @ {s['hostname']}" if s.get("hostname") else ""))
                for s in data]
    archives = data["archives"] if isinstance(data, dict) else None
    if not isinstance(archives, list):
        raise TypeError("liste d'archives attendue")
    return [Backup(_utc(a.get("time") or a["start"]), str(a["name"])) for a in archives]


def _tool_said(r: ProbeResult) -> str:
    """What the tool wrote on stderr (the probe's own marks left out), on one line."""
    words = " ".join(" ".join(line for line in r.stderr.splitlines() if not line.startswith("## ")).split())
    return clip(words, 300)


def read_list(p: _Repository, r: ProbeResult, expected: Msg) -> list[Backup] | Verdict:
    """The backups of the list probe, or the verdict when there is nothing to judge (error, no repository)."""
    said = _tool_said(r)
    if r.exit_code in (126, 127):
        return Verdict.erreur(Msg("{tool} n'est pas installé sur l'hôte : {error}", tool=p.tool,
                                  error=said or Msg("code de sortie {code}", code=r.exit_code)), expected=expected)
    if r.exit_code != 0:
        if any(m.search(r.stderr) for m in _MISSING_REPOSITORY):
            return Verdict.non_conforme(Msg("{tool} : {error}", tool=p.tool, error=said), expected,
                                        Msg("Aucun dépôt {tool} à {repository}.", tool=p.tool,
                                            repository=p.repository))
        # a wrong password, an unreachable remote repository, a damaged one: not evaluated, with the tool's words
        return Verdict.erreur(Msg("{tool} n'a pas pu lire le dépôt {repository} (code {code}) : {error}", tool=p.tool,
                                  repository=p.repository, code=r.exit_code, error=said or Msg("(rien sur stderr)")),
                              expected=expected)
    if r.truncated:
        return Verdict.erreur(Msg("liste des sauvegardes tronquée"), expected=expected)
    try:
        return parse_backups(p.tool, r.stdout)
    except (ValueError, KeyError, TypeError) as exc:
        return Verdict.erreur(Msg("sortie de {tool} illisible : {error}", tool=p.tool, error=str(exc)),
                              observed=clip(r.stdout) or Msg("(vide)"), expected=expected)


class BackupRecent(Check):
    """La dernière sauvegarde {tool} du dépôt {repository} a moins de {max_age_hours} heures.

    restic: the snapshots of the repository (``snapshots --json``, selected by ``path``/``host``);
    borg: its archives (``list --json``, selected by ``archives``). Each is a successful backup (neither
    tool records a failed one). The most recent one must be younger than ``max_age_hours`` at the
    grader's clock when the probe ran. No snapshot, or an older one, is non conforme (with its date); a
    wrong password, a remote repository out of reach or a tool missing is erreur with the tool's words;
    no repository at the path named is non conforme. Read only: see the module's notes.
    """

    id = "backup.recent"
    platform = "linux"
    transport = "ssh"
    usually_serves = ("CP9.1",)
    #: (a real rubric adds ``password_credential``, the name of a credential it declares: see the README)
    example = "{tool: borg, repository: /srv/sauvegardes/borg, archives: 'partage-*', max_age_hours: 24}"

    class Params(_Repository):
        max_age_hours: float = Field(default=24, gt=0)

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"list": list_probe(params)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["list"]
        source = source_of(params)
        expected = Msg("une sauvegarde de {source} de moins de {hours:g} h", source=source, hours=params.max_age_hours)
        found = read_list(params, r, expected)
        if isinstance(found, Verdict):
            return found
        now = reference_time(r.started)
        if isinstance(now, Verdict):
            return now
        return judge_recent(found, now, params.max_age_hours, source)


_HASH = re.compile(r"^\\?([0-9a-f]{64})  ")


def parse_restore(stdout: str, stderr: str = "") -> dict[str, str]:
    """The restore probe's marks: ``archive``, ``restore-rc`` (on stderr, after the tool's own words: a pipe
    loses the tool's exit code), ``restored`` (hash), ``live-rc``, ``live`` (hash)."""
    out: dict[str, str] = {}
    for line in stderr.splitlines():
        if line.startswith("## restore-rc "):
            out["restore-rc"] = line.removeprefix("## restore-rc ")
    section = ""
    for line in stdout.splitlines():
        if line.startswith("## "):
            word, _, value = line[3:].partition(" ")
            if word in ("restore", "live"):
                section = word
            else:
                out[word] = value
            continue
        m = _HASH.match(line)
        if m and section:
            out["restored" if section == "restore" else "live"] = m.group(1)
    return out


_NOT_IN_BACKUP = (re.compile(r"not found in snapshot"), re.compile(r"Include pattern .* never matched"))


class BackupRestorable(Check):
    """Le fichier {file} se restaure à l'identique depuis la dernière sauvegarde {tool} du dépôt {repository}.

    The file is restored to standard output, never to disk (``restic dump latest FILE``, ``borg extract
    --stdout REPO::ARCHIVE PATH`` of the latest archive by date), straight into ``sha256sum``; the live
    file is hashed the same way; the two hashes must be equal. A file absent from the latest backup,
    or different from the live one, is non conforme; no backup at all is non conforme; a wrong password
    or an unreadable live file is erreur. Nothing is written on the host (see the module's notes).
    """

    id = "backup.restorable"
    platform = "linux"
    transport = "ssh"
    usually_serves = ("CP9.1",)
    example = "{tool: restic, repository: /srv/sauvegardes/restic, path: /srv/partage, file: /srv/partage/compta.ods}"

    class Params(_Repository):
        file: str  # the live file, absolute, as it was backed up

        @field_validator("file")
        @classmethod
        def _file(cls, value: str) -> str:
            _plain(value)
            if not value.startswith("/"):
                raise ValueError("chemin absolu attendu")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        f = quote(params.file)
        live = f"printf '## live\\n'; /usr/bin/sha256sum -- {f}; printf '## live-rc %s\\n' \"$?\""
        if params.tool == "restic":
            dump = _restic(params, "dump", "latest", f)
            restore = (f"printf '## restore\\n'; {{ {dump}; printf '## restore-rc %s\\n' \"$?\" >&2; }} "
                       f"| /usr/bin/sha256sum; {live}")
        else:
            last = _borg(params, "list", "--short", "--sort-by", "timestamp", "--last", "1", quote(params.repository))
            extract = _borg(params, "extract", "--stdout", f'{quote(params.repository)}::"$a"',
                            quote(params.file.lstrip("/")))
            restore = (_BORG_TMP + f"a=$({last}); rc=$?; printf '## archive %s\\n' \"$a\"; printf '## restore\\n'; "
                       f"if [ \"$rc\" -eq 0 ] && [ -n \"$a\" ]; then {{ {extract}; "
                       f"printf '## restore-rc %s\\n' \"$?\" >&2; }} | /usr/bin/sha256sum; "
                       f"elif [ \"$rc\" -eq 0 ]; then printf '## restore-rc none\\n'; "
                       f"else printf '## restore-rc %s\\n' \"$rc\"; fi; {live}; rc=0" + _BORG_END)
        return {"list": list_probe(params), "restore": ssh(restore, timeout=120, secret=params.password_credential)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = Msg("{file} restauré depuis la dernière sauvegarde, identique au fichier en place", file=params.file)
        found = read_list(params, results["list"], expected)
        if isinstance(found, Verdict):
            return found
        now = reference_time(results["list"].started)
        if isinstance(now, Verdict):
            return now
        last, _ = latest(found, now)
        if last is None:
            return Verdict.non_conforme(Msg("aucune sauvegarde"), expected,
                                        Msg("Aucune sauvegarde de {source}.", source=source_of(params)))
        r = results["restore"]
        marks = parse_restore(r.stdout, r.stderr)
        said = _tool_said(r)
        restored_from = describe(last)
        if r.exit_code not in (0, None) or "restore-rc" not in marks or "live-rc" not in marks:
            return Verdict.erreur(Msg("la restauration n'a pas pu être menée (code {code}) : {error}",
                                      code=r.exit_code, error=said or clip(r.stdout) or Msg("(vide)")),
                                  expected=expected)
        if marks["restore-rc"] == "none":
            return Verdict.non_conforme(Msg("aucune sauvegarde"), expected,
                                        Msg("Aucune sauvegarde de {source}.", source=source_of(params)))
        if any(m.search(r.stderr) for m in _NOT_IN_BACKUP):
            return Verdict.non_conforme(Msg("{file} absent de la sauvegarde {backup} : {error}", file=params.file,
                                            backup=restored_from, error=said), expected,
                                        Msg("Le fichier {file} n'est pas dans la dernière sauvegarde.",
                                            file=params.file))
        if marks["restore-rc"] != "0" or "restored" not in marks:
            return Verdict.erreur(Msg("{tool} n'a pas restauré {file} (code {code}) : {error}", tool=params.tool,
                                      file=params.file, code=marks["restore-rc"], error=said or Msg("(rien sur stderr)")),
                                  expected=expected)
        if marks["live-rc"] != "0" or "live" not in marks:
            return Verdict.erreur(Msg("le fichier en place {file} est illisible : {error}", file=params.file,
                                      error=said or Msg("code {code}", code=marks["live-rc"])), expected=expected)
        archive = marks.get("archive", "")
        observed = Msg("restauré depuis {backup} : sha256 {restored} ; en place : sha256 {live}",
                       backup=restored_from if not archive or archive == last.name else archive,
                       restored=marks["restored"][:16], live=marks["live"][:16])
        if marks["restored"] == marks["live"]:
            return Verdict.conforme(observed, expected,
                                    Msg("Le fichier {file} restauré depuis la sauvegarde du {at} est identique au "
                                        "fichier en place.", file=params.file, at=when(last.at)))
        return Verdict.non_conforme(observed, expected,
                                    Msg("Le fichier {file} restauré depuis la sauvegarde du {at} diffère du fichier "
                                        "en place.", file=params.file, at=when(last.at)))
