"""The GPOs a Windows client actually applied: ``gpresult /r /scope computer`` read over the WinRM batch.

Reading the directory says where a GPO is linked; only the client says it *applied* it (a
security filter, a WMI filter, a disabled computer part, a machine in the wrong OU, a client
that never refreshed all leave the link in place and the policy out). ``gpresult /r`` prints
the computer's Resultant Set of Policy as text in the language of the system (the probe hands its
lines over as JSON, ``{"Lines": [...]}``, like every probe of the pack), so the output is
read by its layout, not its words: under the computer section, the first sub-heading underlined
with dashes lists the applied GPOs (« Applied Group Policy Objects », « Objets Stratégie de
groupe appliqués »), the second the GPOs filtered out, each followed by its indented reason
(« Filtering: Not Applied (Empty) »), the third the computer's groups. The lines before the
first sub-heading (``Last time Group Policy was applied: …``, ``… applied from: dc.tssr.lan``)
are kept as evidence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import Field

from checks._common.text import clip, commas
from checks.windows._ps import read_items, unusable
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.winrm import winrm

GPRESULT = winrm("$lines = @(& \"$env:SystemRoot\\System32\\gpresult.exe\" /r /scope computer 2>&1 | "
                 "ForEach-Object { \"$_\" })\n"
                 "if ($LASTEXITCODE -ne 0) { throw \"gpresult.exe : code $LASTEXITCODE : $($lines -join ' ')\" }\n"
                 "ConvertTo-Json -InputObject ([ordered]@{ Lines = $lines }) -Depth 4 -ErrorAction Stop", timeout=60.0)
_DASHES = re.compile(r"^\s*-{3,}\s*$")


@dataclass
class Rsop:
    """What ``gpresult /r /scope computer`` says of the computer's policy."""

    header: list[str] = field(default_factory=list)  # « Last time Group Policy was applied: … » and the like
    applied: list[str] = field(default_factory=list)
    filtered: dict[str, str] = field(default_factory=dict)  # GPO name -> the reason gpresult gives


def _headings(lines: list[str]) -> list[tuple[int, int]]:
    """(line index, indentation) of every heading: a non-empty line underlined by a line of dashes."""
    return [(i, len(line) - len(line.lstrip())) for i, line in enumerate(lines[:-1])
            if line.strip() and not _DASHES.match(line) and _DASHES.match(lines[i + 1])]


def parse_gpresult(text: str) -> Rsop:
    """The computer part of ``gpresult /r`` output, in any language; ValueError when it has no such part."""
    lines = text.replace("\r\n", "\n").split("\n")
    heads = _headings(lines)
    sections = [i for i, indent in heads if indent == 0]
    subs = [(i, indent) for i, indent in heads if indent > 0]
    if not sections or not subs:
        raise ValueError("pas de partie ordinateur dans la sortie de gpresult")
    start = max(i for i in sections if i < subs[0][0]) if any(i < subs[0][0] for i in sections) else None
    if start is None:
        raise ValueError("sous-partie de gpresult hors de toute partie")
    rsop = Rsop(header=[line.strip() for line in lines[start + 2:subs[0][0]] if line.strip()])
    bounds = [i for i, _ in subs] + [len(lines)]
    for n, (i, _) in enumerate(subs[:2]):
        body = [line for line in lines[i + 2:bounds[n + 1]] if line.strip()]
        if n == 0:
            rsop.applied = [line.strip() for line in body]
            continue
        item_indent = min((len(line) - len(line.lstrip()) for line in body), default=0)
        current = None
        for line in body:
            if len(line) - len(line.lstrip()) == item_indent:
                current = line.strip()
                rsop.filtered[current] = ""
            elif current is not None:
                rsop.filtered[current] = (rsop.filtered[current] + " " + line.strip()).strip()
    return rsop


class GpoApplied(Check):
    """Le poste a appliqué la stratégie {gpo} (gpresult).

    The client's own account of its policy (``gpresult /r /scope computer``, over WinRM, run as the
    grader's administrator account): conforme when ``gpo`` is among the applied GPOs (names
    compared without regard to case), non conforme when it is filtered out (gpresult's reason
    quoted: « Not Applied (Empty) », « Denied (Security) », « Disabled (GPO) »…) or absent (not
    linked above the computer's OU, or not yet refreshed: ``gpupdate /force``). ``applied: false``
    asks the opposite (a GPO that must not reach this computer).
    """

    id = "windows.gpo_applied"
    platform = "windows"
    transport = "winrm"
    usually_serves = ("CP1.2",)
    example = "{gpo: Sécurité des postes}"

    class Params(CheckParams):
        gpo: str = Field(min_length=1)
        applied: bool = True

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"gpresult": GPRESULT}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        result = results["gpresult"]
        expected = (Msg("{gpo} parmi les stratégies appliquées à l'ordinateur", gpo=params.gpo) if params.applied
                    else Msg("{gpo} absente des stratégies appliquées à l'ordinateur", gpo=params.gpo))
        if result.exit_code != 0:
            return unusable(result, Msg("la commande gpresult"), expected)
        read = read_items(result, Msg("la commande gpresult"), expected)
        if isinstance(read, Verdict):
            return read
        lines = read[0].get("Lines") if read and isinstance(read[0], dict) else None
        try:
            rsop = parse_gpresult("\n".join(str(line) for line in lines) if isinstance(lines, list) else "")
        except ValueError as exc:
            return Verdict.erreur(Msg("sortie de gpresult illisible : {exc}", exc=str(exc)),
                                  observed=clip(result.stdout, crlf=True), expected=expected)
        wanted = params.gpo.casefold()
        applied = next((name for name in rsop.applied if name.casefold() == wanted), None)
        filtered = next(((name, why) for name, why in rsop.filtered.items() if name.casefold() == wanted), None)
        observed = Msg("appliquées : {applied} ; filtrées : {filtered} ({header})",
                       applied=commas(rsop.applied) if rsop.applied else Msg("aucune"),
                       filtered=commas([f"{n} ({w})" if w else n for n, w in rsop.filtered.items()])
                       if rsop.filtered else Msg("aucune"), header=clip(" ; ".join(rsop.header[:2]), 160))
        if params.applied and applied:
            return Verdict.conforme(observed, expected, Msg("L'ordinateur a appliqué la stratégie {gpo}.",
                                                            gpo=applied))
        if params.applied and filtered:
            return Verdict.non_conforme(observed, expected, Msg("La stratégie {gpo} atteint l'ordinateur mais n'est "
                                                                "pas appliquée : {why}.", gpo=filtered[0],
                                                                why=filtered[1] or "?"))
        if params.applied:
            return Verdict.non_conforme(observed, expected, Msg("La stratégie {gpo} n'atteint pas l'ordinateur (non "
                                                                "liée au-dessus de son UO, ou pas encore "
                                                                "actualisée).", gpo=params.gpo))
        if applied:
            return Verdict.non_conforme(observed, expected, Msg("L'ordinateur applique la stratégie {gpo}, qui ne "
                                                                "devrait pas l'atteindre.", gpo=applied))
        return Verdict.conforme(observed, expected, Msg("L'ordinateur n'applique pas la stratégie {gpo}.",
                                                        gpo=params.gpo))
