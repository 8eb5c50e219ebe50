"""Installed packages, from the package database (dpkg on Debian, rpm on the RedHat family)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import field_validator

from checks._common.text import clip, limited, said
from checks.linux._parse import cannot_run, text_lines
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import quote, ssh

# Debian policy names are lowercase; RPM names also allow capitals and underscores
# (NetworkManager, perl-Data_Dumper). No glob characters: dpkg-query would expand them.
_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]*(:[A-Za-z0-9_-]+)?$")

DPKG_FORMAT = "${db:Status-Abbrev}|${Package}|${Version}|${Architecture}\\n"
RPM_FORMAT = "rpm|%{NAME}|%{VERSION}-%{RELEASE}|%{ARCH}\\n"

# Second letter of ${db:Status-Abbrev} (dpkg-query(1)).
_DPKG_STATUS = {
    "n": Msg("non installé"),
    "c": Msg("supprimé, fichiers de configuration conservés"),
    "H": Msg("installation interrompue (half-installed)"),
    "U": Msg("décompressé mais non configuré"),
    "F": Msg("configuration interrompue (half-configured)"),
    "W": Msg("en attente de déclencheurs"),
    "t": Msg("déclencheurs en attente"),
    "i": Msg("installé"),
}


class PackageInstalled(Check):
    """Le paquet {package} est installé.

    Debian: ``dpkg-query`` must report the state ``ii`` (wanted install, status installed,
    no error flag). ``rc`` (removed, configuration files left), ``un`` and half-installed
    states are not installed. RedHat family: ``rpm -q`` must list the package. The probe
    picks the tool by testing which one exists (dpkg-query first).
    """

    id = "linux.package_installed"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        package: str

        @field_validator("package")
        @classmethod
        def _name(cls, value: str) -> str:
            if not _PACKAGE.match(value):
                raise ValueError("nom de paquet invalide (lettres, chiffres, + . _ -, éventuellement :arch)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        pkg = quote(params.package)
        command = (
            f"if [ -x /usr/bin/dpkg-query ]; then /usr/bin/dpkg-query -W -f='{DPKG_FORMAT}' -- {pkg}; "
            f"elif [ -x /usr/bin/rpm ]; then /usr/bin/rpm -q --qf '{RPM_FORMAT}' -- {pkg}; "
            "else printf 'ni dpkg-query ni rpm sur cet hôte\\n' >&2; exit 127; fi"
        )
        return {"pkg": ssh(command)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["pkg"]
        expected = Msg("{package} installé", package=params.package)
        reason = cannot_run(r)
        if reason == "ni dpkg-query ni rpm sur cet hôte":  # the probe's own words (on stderr, exit 127)
            reason = Msg("ni dpkg-query ni rpm sur cet hôte")
        if reason:
            return Verdict.erreur(Msg("impossible d'interroger la base des paquets : {reason}",
                                      reason=reason), expected=expected)
        name, _, arch = params.package.partition(":")
        lines = text_lines(r.stdout)
        if any(line.startswith("rpm|") for line in lines) or "is not installed" in r.stdout:
            return _judge_rpm(name, arch, lines, r, expected)
        return _judge_dpkg(name, arch, lines, r, expected)


def _judge_dpkg(name: str, arch: str, lines: list[str], r: ProbeResult, expected: Msg) -> Verdict:
    entries = []
    for line in lines:
        parts = line.split("|")
        if len(parts) != 4 or len(parts[0]) != 3:
            return Verdict.erreur(Msg("sortie de dpkg-query illisible"), observed=clip(r.stdout or r.stderr),
                                  expected=expected)
        entries.append(parts)
    if r.exit_code == 1 and not entries and "no packages found" in r.stderr:
        return Verdict.non_conforme(Msg("paquet inconnu de dpkg"), expected, Msg("Le paquet {name} n'est pas installé.",
                                                                            name=name))
    if r.exit_code != 0:
        return Verdict.erreur(Msg("dpkg-query a échoué (code {code})",
                                  code=r.exit_code), observed=clip(r.stderr or r.stdout),
                              expected=expected)
    mine = [e for e in entries if e[1] == name and (not arch or e[3] in (arch, "all"))]
    if not mine:
        return Verdict.erreur(Msg("dpkg-query n'a rien renvoyé pour ce paquet"), observed=clip(r.stdout) or Msg("(vide)"),
                              expected=expected)
    described = [Msg("{package}:{arch} « {abbrev} » ({state}){version}", package=e[1], arch=e[3], abbrev=e[0].rstrip(),
                     state=_describe_dpkg(e[0]), version=(" " + e[2]).rstrip()) for e in mine]
    observed = said(limited(described))
    installed = [e for e in mine if e[0][1] == "i" and e[0][2] == " "]
    if installed:
        e = installed[0]
        return Verdict.conforme(observed, expected, Msg("Le paquet {name} est installé (version {version}).",
                                                        name=name, version=e[2]))
    return Verdict.non_conforme(observed, expected, Msg("Le paquet {name} n'est pas installé ({state}).",
                                                        name=name, state=_describe_dpkg(mine[0][0])))


def _describe_dpkg(abbrev: str) -> Msg:
    text = _DPKG_STATUS.get(abbrev[1]) or Msg("état « {code} » inconnu", code=abbrev[1])
    if abbrev[2] == "R":
        text = Msg("{state}, réinstallation requise", state=text)
    return text


def _judge_rpm(name: str, arch: str, lines: list[str], r: ProbeResult, expected: Msg) -> Verdict:
    found = []
    for line in lines:
        if line.startswith("rpm|"):
            parts = line.split("|")
            if len(parts) != 4:
                return Verdict.erreur(Msg("sortie de rpm illisible"), observed=clip(r.stdout), expected=expected)
            found.append(parts)
        elif line.strip() == f"package {name} is not installed" or line.strip() == f"package {name}:{arch} is not installed":
            continue
        else:
            return Verdict.erreur(Msg("sortie de rpm illisible"), observed=clip(r.stdout), expected=expected)
    mine = [p for p in found if p[1] == name and (not arch or p[3] in (arch, "noarch"))]
    if r.exit_code == 0 and mine:
        observed = said(limited([f"{p[1]}-{p[2]}.{p[3]}" for p in mine]))
        return Verdict.conforme(observed, expected, Msg("Le paquet {name} est installé (version {version}).",
                                                        name=name, version=mine[0][2]))
    if r.exit_code == 1 and not found and "is not installed" in r.stdout:
        return Verdict.non_conforme(clip(r.stdout.strip()), expected,  # rpm's own words: « package x is not installed »
                                    Msg("Le paquet {name} n'est pas installé.", name=name))
    return Verdict.erreur(Msg("rpm a répondu de façon inattendue (code {code})", code=r.exit_code),
                          observed=clip(r.stdout or r.stderr), expected=expected)
