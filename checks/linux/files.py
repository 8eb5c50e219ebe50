"""Files and directories: existence, ownership, permissions, content."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from checks._common.params import Regex
from checks._common.text import clip, limited, said
from checks.linux._parse import cannot_run, text_lines
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import quote, ssh

STAT_FORMAT = "%F|%U|%G|%a|%s|%u|%g"
_MISSING = ("No such file or directory", "Not a directory", "Too many levels of symbolic links")
_OWNER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$")


def _absolute_path(value: str) -> str:
    if not value.startswith("/") or "\n" in value or "\0" in value:
        raise ValueError("chemin absolu attendu (commençant par /)")
    return value


#: The path a probe stats or reads: absolute, on one line (the probe's command line), without NUL.
AbsolutePath = Annotated[str, AfterValidator(_absolute_path)]


class FileExists(Check):
    """Le chemin {path} existe, avec le type, le propriétaire, le groupe et les droits attendus.

    ``stat -L`` follows symbolic links: what is checked is what programs opening the path
    get. ``kind`` file accepts an empty regular file. ``mode`` is compared as a number
    ("644" and "0644" are equal; special bits count: 2755 is not 755). ``owner`` and
    ``group`` may be names or numeric ids.
    """

    id = "linux.file_exists"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        path: AbsolutePath
        kind: Literal["file", "directory"] = "file"
        owner: str | None = None
        group: str | None = None
        mode: str | None = None

        @field_validator("owner", "group")
        @classmethod
        def _owner(cls, value: str | None) -> str | None:
            if value is not None and not _OWNER.match(value):
                raise ValueError("nom ou numéro de propriétaire invalide")
            return value

        @field_validator("mode")
        @classmethod
        def _mode(cls, value: str | None) -> str | None:
            if value is not None and not re.fullmatch(r"[0-7]{3,4}", value):
                raise ValueError("droits en octal attendus, par ex. 644 ou 0644")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"stat": ssh(f"/usr/bin/stat -L -c '{STAT_FORMAT}' -- {quote(params.path)}")}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["stat"]
        details = {"owner": Msg(", propriétaire {owner}", owner=params.owner) if params.owner else "",
                   "group": Msg(", groupe {group}", group=params.group) if params.group else "",
                   "mode": Msg(", droits {mode}", mode=params.mode) if params.mode else ""}
        expected = (Msg("fichier{owner}{group}{mode}", **details) if params.kind == "file" else
                    Msg("répertoire{owner}{group}{mode}", **details))
        reason = cannot_run(r)
        if reason:
            return Verdict.erreur(Msg("stat n'a pas pu être exécuté : {reason}", reason=reason), expected=expected)
        if r.exit_code != 0:
            if r.exit_code == 1 and any(m in r.stderr for m in _MISSING):
                return Verdict.non_conforme(clip(r.stderr.strip(), 160), expected,
                                            Msg("{path} n'existe pas.", path=params.path))
            return Verdict.erreur(Msg("stat a échoué (code {code})", code=r.exit_code),
                                  observed=clip(r.stderr or r.stdout),
                                  expected=expected)
        lines = text_lines(r.stdout)
        parts = lines[0].split("|") if len(lines) == 1 else []
        if len(parts) != 7 or not re.fullmatch(r"[0-7]+", parts[3]):
            return Verdict.erreur(Msg("sortie de stat illisible"), observed=clip(r.stdout) or Msg("(vide)"),
                                  expected=expected)
        ftype, owner, group, mode, size, uid, gid = parts
        observed = Msg("{type}, {owner}:{group}, droits {mode}, {size} octets", type=ftype, owner=owner, group=group,
                       mode=mode, size=size)
        problems = []
        if params.kind == "file" and ftype not in ("regular file", "regular empty file"):
            problems.append(Msg("ce n'est pas un fichier ordinaire ({type})", type=ftype))
        if params.kind == "directory" and ftype != "directory":
            problems.append(Msg("ce n'est pas un répertoire ({type})", type=ftype))
        if params.owner and params.owner not in (owner, uid):
            problems.append(Msg("propriétaire {owner} au lieu de {expected}", owner=owner, expected=params.owner))
        if params.group and params.group not in (group, gid):
            problems.append(Msg("groupe {group} au lieu de {expected}", group=group, expected=params.group))
        if params.mode and int(params.mode, 8) != int(mode, 8):
            problems.append(Msg("droits {mode} au lieu de {expected}", mode=mode, expected=params.mode))
        if problems:
            return Verdict.non_conforme(observed, expected, Msg("{path} : {problems}.",
                                                                path=params.path, problems=problems))
        return Verdict.conforme(observed, expected, Msg("{path} existe comme attendu.", path=params.path))


class FileContains(Check):
    """Le fichier {path} contient une ligne active correspondant à {pattern}.

    The pattern is a Python regular expression searched in each line. With
    ``ignore_comments`` (default), full-line comments (optional blanks, then one of
    ``comment_prefixes``) are skipped: a directive that is commented out does not count.
    Trailing comments are not removed (their syntax depends on the program). A missing
    file is not conforme.
    """

    id = "linux.file_contains"
    usually_serves = ("CP9.1",)
    example = '{path: /etc/ssh/sshd_config, pattern: "^PasswordAuthentication no"}'
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        path: AbsolutePath
        pattern: Regex
        ignore_comments: bool = True
        comment_prefixes: list[str] = Field(default_factory=lambda: ["#"])

        @field_validator("comment_prefixes")
        @classmethod
        def _prefixes(cls, value: list[str]) -> list[str]:
            if any(not p for p in value):
                raise ValueError("préfixe de commentaire vide")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"content": ssh(f"/usr/bin/cat -- {quote(params.path)}")}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["content"]
        expected = Msg("une ligne active correspondant à /{pattern}/", pattern=params.pattern)
        reason = cannot_run(r)
        if reason:
            return Verdict.erreur(Msg("cat n'a pas pu être exécuté : {reason}", reason=reason), expected=expected)
        if r.exit_code != 0:
            if r.exit_code == 1 and any(m in r.stderr for m in (*_MISSING, "Is a directory")):
                return Verdict.non_conforme(clip(r.stderr.strip(), 160), expected,
                                            Msg("Le fichier {path} n'existe pas (ou n'est pas un fichier).",
                                                path=params.path))
            return Verdict.erreur(Msg("lecture impossible (code {code})", code=r.exit_code), observed=clip(r.stderr),
                                  expected=expected)
        regex = re.compile(params.pattern)
        prefixes = tuple(params.comment_prefixes)
        active: list[Msg] = []
        commented: list[Msg] = []
        for number, line in enumerate(text_lines(r.stdout), 1):
            if not regex.search(line):
                continue
            is_comment = params.ignore_comments and line.lstrip().startswith(prefixes)
            (commented if is_comment else active).append(Msg("ligne {number} : {text}", number=number,
                                                                 text=clip(line.strip(), 120)))
        if active:
            return Verdict.conforme(said(limited(active)), expected,
                                    Msg("Le fichier {path} contient la ligne attendue.", path=params.path))
        if r.truncated:
            return Verdict.erreur(Msg("fichier trop long, lu en partie : motif non trouvé dans la partie lue"),
                                  expected=expected)
        if commented:
            return Verdict.non_conforme(Msg("seulement en commentaire : {lines}", lines=limited(commented)), expected,
                                        Msg("La ligne attendue n'est présente qu'en commentaire dans {path}.",
                                            path=params.path))
        observed = Msg("fichier vide") if not r.stdout else Msg("aucune ligne correspondante")
        return Verdict.non_conforme(observed, expected,
                                    Msg("Le fichier {path} ne contient pas la ligne attendue.", path=params.path))
