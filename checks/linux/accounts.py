"""Local accounts: existence, group membership, login shell (through NSS, as logins see them)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import Field, field_validator

from checks._common.text import clip
from checks.linux._parse import cannot_run, text_lines
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import quote, ssh

# Not all digits: getent and id would take a number for a uid.
_NAME = re.compile(r"^(?!\d+$)[A-Za-z_][A-Za-z0-9_.-]*\$?$")


def same_shell(expected: str, actual: str) -> bool:
    """Exact match, a bare name against its basename, or /bin vs /usr/bin (merged /usr)."""
    if "/" not in expected:
        return actual.rsplit("/", 1)[-1] == expected

    def norm(path: str) -> str:
        return path[4:] if path.startswith(("/usr/bin/", "/usr/sbin/")) else path

    return actual == expected or norm(actual) == norm(expected)


class UserInGroups(Check):
    """Le compte {user} existe, avec les groupes et le shell attendus.

    ``getent passwd`` proves that the account exists (local or directory), ``id -Gn`` lists
    every group it belongs to (primary and supplementary), as a login would get them. Group
    names are compared exactly ("webadmin" is not "webadmins"). When ``shell`` is given, the
    login shell must be that one (a bare name such as ``bash`` matches any path ending with
    it; /bin/x and /usr/bin/x are the same program on a merged-/usr system).
    """

    id = "linux.user_in_groups"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        user: str
        groups: list[str] = Field(default_factory=list)
        shell: str | None = None

        @field_validator("user")
        @classmethod
        def _user(cls, value: str) -> str:
            if not _NAME.match(value):
                raise ValueError("nom de compte invalide")
            return value

        @field_validator("groups")
        @classmethod
        def _groups(cls, value: list[str]) -> list[str]:
            for g in value:
                if not _NAME.match(g):
                    raise ValueError(f"nom de groupe invalide : {g!r}")
            return value

        @field_validator("shell")
        @classmethod
        def _shell(cls, value: str | None) -> str | None:
            if value is not None and (not value or any(c in value for c in ":\n ")):
                raise ValueError("shell invalide")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        user = quote(params.user)
        return {
            "passwd": ssh(f"/usr/bin/getent passwd -- {user}"),
            "groups": ssh(f"/usr/bin/id -Gn -- {user}"),
        }

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        pw, gr = results["passwd"], results["groups"]
        expected = Msg("compte {user}{groups}{shell}", user=params.user,
                       groups=Msg(", groupes {names}", names=" ".join(params.groups)) if params.groups else "",
                       shell=f", shell {params.shell}" if params.shell else "")
        for r, what in ((pw, "getent"), (gr, "id")):
            reason = cannot_run(r)
            if reason:
                return Verdict.erreur(Msg("{what} n'a pas pu être exécuté : {reason}", what=what, reason=reason),
                                      expected=expected)
        if pw.exit_code == 2 and not pw.stdout.strip():
            return Verdict.non_conforme(Msg("compte inexistant"), expected,
                                        Msg("Le compte {user} n'existe pas.", user=params.user))
        if pw.exit_code != 0:
            return Verdict.erreur(Msg("getent passwd a échoué (code {code})", code=pw.exit_code),
                                  observed=clip(pw.stderr or pw.stdout), expected=expected)
        entries = [line.split(":") for line in text_lines(pw.stdout)]
        mine = [e for e in entries if len(e) == 7 and e[0] == params.user]
        if len(mine) != 1 or len(entries) != 1:
            return Verdict.erreur(Msg("sortie de getent passwd illisible"), observed=clip(pw.stdout), expected=expected)
        entry = mine[0]
        # id exits 1 when a group id has no name, but still prints the others.
        group_lines = text_lines(gr.stdout)
        if gr.exit_code != 0 and not (gr.exit_code == 1 and len(group_lines) == 1 and "cannot find name" in gr.stderr):
            return Verdict.erreur(Msg("id a échoué (code {code}) alors que le compte existe", code=gr.exit_code),
                                  observed=clip(gr.stderr or gr.stdout), expected=expected)
        if len(group_lines) != 1 or not group_lines[0].strip():
            return Verdict.erreur(Msg("sortie de id illisible"), observed=clip(gr.stdout) or Msg("(vide)"),
                                  expected=expected)
        groups = group_lines[0].split()
        observed = Msg("uid={uid}, groupes : {groups}, shell : {shell}", uid=entry[2], groups=" ".join(groups),
                       shell=entry[6] or Msg("(vide)"))
        missing = [g for g in params.groups if g not in groups]
        problems = []
        if missing:
            problems.append(Msg("n'appartient pas à {groups}", groups=", ".join(missing)))
        if params.shell and not same_shell(params.shell, entry[6]):
            problems.append(Msg("shell {shell} au lieu de {expected}",
                                shell=entry[6] or Msg("(vide)"), expected=params.shell))
        if problems:
            return Verdict.non_conforme(observed, expected, Msg("Le compte {user} {problems}.", user=params.user,
                                                                 problems=problems))
        return Verdict.conforme(observed, expected,
                                Msg("Le compte {user} existe avec les groupes attendus.", user=params.user))
