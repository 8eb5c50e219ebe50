"""Drive maps of Group Policy Preferences: a GPO's ``Drives.xml`` read in SYSVOL over SMB, where clients read it.

The file is ``User\\Preferences\\Drives\\Drives.xml`` in the GPO's folder (MS-GPPREF §2.2.1.4, Drive
Maps): one ``<Drive>`` element per mapping (``disabled="1"`` when the item is switched off in the
editor), its ``<Properties>`` carrying ``action`` (C, R, U, D: create, replace, update, delete;
U when absent), ``letter``, ``path`` (the UNC path), ``label``, ``persistent``, and an optional
``<Filters>`` block (item-level targeting: ``<FilterGroup name="TSSR\\GG_Compta" not="0">``…).
Like the other GPO checks (:mod:`checks.windows.gpo_settings`), the GPO is found by its name over
LDAP and its folder from ``gPCFileSysPath``; the SYSVOL read is one probe shared by every drive-map
check of the DC. Whether the GPO is linked where it must be is ``ad.gpo_link``'s question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import defusedxml.ElementTree as SafeET
from pydantic import Field, field_validator

from checks._common.text import commas
from checks.windows._ad import Entry, clip_list, gpo_missing, gpo_names, gpo_near_misses, gpos_named, read
from checks.windows._gpo import as_int
from checks.windows.ad._directory import GPOS
from checks.windows.gpo_settings import FLAG_USER_DISABLED, sysvol_folder
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes import smb

DRIVES_XML = "User/Preferences/Drives/Drives.xml"
DRIVE_FILES = smb.read_tree("SYSVOL", "*/Policies/*", [DRIVES_XML])
ACTIONS = {"C": Msg("créer"), "R": Msg("remplacer"), "U": Msg("mettre à jour"), "D": Msg("supprimer")}


@dataclass(frozen=True)
class DriveMap:
    """One ``<Drive>`` preference item, as the client reads it."""

    letter: str  # upper case, without the colon
    path: str
    action: str  # C, R, U or D
    label: str = ""
    disabled: bool = False
    persistent: bool = False
    groups: tuple[tuple[str, bool], ...] = ()  # item-level targeting: (group name, negated)
    has_password: bool = False  # a cpassword (MS14-025: readable by every domain user)

    def shown(self) -> Msg:
        """« S: → \\\\srv\\compta [U] « Compta » si TSSR\\GG_Compta » (a negated group is written !group)."""
        targets = ", ".join(("!" if negated else "") + name for name, negated in self.groups)
        return Msg("{letter}: → {path} [{action}]{label}{targets}{state}", letter=self.letter, path=self.path or "—",
                   action=self.action, label=f" « {self.label} »" if self.label else "",
                   targets=Msg(" si {groups}", groups=targets) if targets else "",
                   state=Msg(" (désactivé)") if self.disabled else "")


def parse_drives_xml(data: bytes) -> list[DriveMap]:
    """Every ``<Drive>`` of a Drives.xml (UTF-8 or UTF-16 with its declaration); ValueError when unreadable."""
    try:
        root = SafeET.fromstring(data)
    except SafeET.ParseError as exc:
        raise ValueError(f"XML invalide : {exc}") from exc
    except Exception as exc:  # defusedxml's refusals (DTD, entities): a file no editor writes
        raise ValueError(f"XML refusé : {type(exc).__name__}") from exc
    drives = []
    for drive in root.iter("Drive"):
        props = drive.find("Properties")
        if props is None:
            continue
        letter = (props.get("letter") or drive.get("name", "")).strip().rstrip(":").upper()
        groups = tuple((g.get("name", ""), g.get("not", "0") == "1") for g in drive.iter("FilterGroup"))
        drives.append(DriveMap(letter=letter, path=(props.get("path") or "").strip(),
                               action=(props.get("action") or "U").upper(), label=props.get("label") or "",
                               disabled=drive.get("disabled", "0") == "1", persistent=props.get("persistent") == "1",
                               groups=groups, has_password=bool(props.get("cpassword"))))
    return drives


def same_unc(a: str, b: str) -> bool:
    """UNC paths as Windows compares them: case-insensitive, a trailing backslash ignored."""
    return a.rstrip("\\/").replace("/", "\\").lower() == b.rstrip("\\/").replace("/", "\\").lower()


def _group_matches(written: str, wanted: str) -> bool:
    """« TSSR\\GG_Compta » matches « GG_Compta » and « tssr\\gg_compta »."""
    return written.lower() == wanted.lower() or written.lower().rsplit("\\", 1)[-1] == wanted.lower()


class GpoDriveMap(Check):
    """La stratégie {gpo} connecte le lecteur {letter}: à {path}.

    Read in the GPO's ``Drives.xml`` (Group Policy Preferences, user part), as clients read it:
    a ``<Drive>`` item for ``letter`` whose action creates, replaces or updates the mapping (not
    « supprimer »), with ``path`` (compared as Windows does, without regard to case), and, when
    given, ``label`` and ``group`` (item-level targeting on that security group, not negated). A
    disabled item, or a GPO whose user part is disabled, maps nothing: non conforme. A mapping
    that stores a password (``cpassword``) is said in the evidence (any domain user can decrypt it).
    """

    id = "ad.gpo_drive_map"
    platform = "windows"
    transport = "smb"
    usually_serves = ("CP1.2",)
    example = r"{gpo: Lecteurs réseau, letter: S, path: '\\srv-fichiers\compta', group: GG_Compta}"

    class Params(CheckParams):
        gpo: str = Field(min_length=1)
        letter: str = Field(min_length=1, max_length=2)
        path: str = Field(min_length=3)
        label: str | None = None
        group: str | None = None
        action: Literal["C", "R", "U"] | None = None  # else any of them

        @field_validator("letter")
        @classmethod
        def _letter(cls, value: str) -> str:
            letter = value.strip().rstrip(":").upper()
            if len(letter) != 1 or not "A" <= letter <= "Z":
                raise ValueError("une lettre de lecteur est attendue (ex. S)")
            return letter

        @field_validator("path")
        @classmethod
        def _unc(cls, value: str) -> str:
            if not value.replace("/", "\\").startswith("\\\\"):
                raise ValueError("un chemin UNC est attendu (ex. \\\\srv-fichiers\\compta)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"gpos": GPOS, "sysvol": DRIVE_FILES}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        gpos = read(results["gpos"], Msg("stratégies de groupe"))
        if isinstance(gpos, Verdict):
            return gpos
        expected = Msg("{gpo} : lecteur {letter}: → {path}", gpo=params.gpo, letter=params.letter, path=params.path)
        found = gpos_named(params.gpo, gpos)
        if not found:
            return Verdict.non_conforme(Msg("stratégies présentes : {names}", names=clip_list(gpo_names(gpos))),
                                        expected, gpo_missing(params.gpo, gpo_near_misses(params.gpo, gpos)))
        try:
            dirs = smb.parse_output(results["sysvol"])
        except ValueError as exc:
            return Verdict.erreur(Msg("lecture de SYSVOL illisible : {exc}", exc=exc), expected=expected)
        verdicts = [self._one(params, gpo, dirs, results["sysvol"].truncated, expected) for gpo in found]
        return next((v for v in verdicts if v.status.value == "conforme"), verdicts[0])

    def _one(self, params: Params, gpo: Entry, dirs: list[dict[str, object]], truncated: bool,
             expected: Msg) -> Verdict:
        found = sysvol_folder(gpo, dirs, truncated, expected)
        if isinstance(found, Verdict):
            return found
        label, path, files = found
        entry = files.get(DRIVES_XML) or {"absent": True}
        where = Msg("{label} : {path}/{file}", label=label, path=path, file=DRIVES_XML)
        if entry.get("error") or entry.get("truncated"):
            return Verdict.erreur(Msg("Drives.xml de la stratégie {label} illisible : {error}", label=label,
                                      error=entry.get("error") or Msg("trop grand, lu en partie")),
                                  observed=where, expected=expected)
        if entry.get("absent"):
            return Verdict.non_conforme(Msg("{where} : fichier absent", where=where), expected,
                                        Msg("La stratégie {label} ne connecte aucun lecteur (pas de Drives.xml).",
                                            label=label))
        try:
            drives = parse_drives_xml(smb.file_bytes(entry))
        except ValueError as exc:
            return Verdict.erreur(Msg("Drives.xml de la stratégie {label} illisible : {error}", label=label,
                                      error=str(exc)), observed=where, expected=expected)
        observed = Msg("{where} : {drives}", where=where, drives=commas([d.shown() for d in drives]) if drives
                       else Msg("aucun lecteur"))
        if any(d.has_password for d in drives):
            observed = Msg("{observed} ; un mot de passe est enregistré (cpassword, lisible par tout utilisateur du "
                           "domaine)", observed=observed)
        mine = [d for d in drives if d.letter == params.letter]
        problems = {id(d): self._problems(params, d) for d in mine}
        good = [d for d in mine if not problems[id(d)]]
        if good:
            flags = as_int(gpo.first("flags", 0)) or 0
            if flags & FLAG_USER_DISABLED:
                return Verdict.non_conforme(observed, expected, Msg("La stratégie {label} connecte le lecteur, mais sa "
                                                                    "partie Utilisateur est désactivée : il ne "
                                                                    "s'applique pas.", label=label))
            return Verdict.conforme(observed, expected, Msg("La stratégie {label} connecte le lecteur {letter}: à "
                                                            "{path}.", label=label, letter=params.letter,
                                                            path=good[0].path))
        if not mine:
            return Verdict.non_conforme(observed, expected, Msg("La stratégie {label} ne connecte pas le lecteur "
                                                                "{letter}:.", label=label, letter=params.letter))
        return Verdict.non_conforme(observed, expected, Msg("Lecteur {letter}: de la stratégie {label} : {items}.",
                                                            letter=params.letter, label=label,
                                                            items=tuple(problems[id(mine[0])])))

    @staticmethod
    def _problems(params: GpoDriveMap.Params, drive: DriveMap) -> list[Msg]:
        problems = []
        if drive.disabled:
            problems.append(Msg("élément désactivé"))
        if drive.action == "D" or (params.action and drive.action != params.action):
            problems.append(Msg("action « {action} »", action=ACTIONS.get(drive.action, drive.action)))
        if not same_unc(drive.path, params.path):
            problems.append(Msg("chemin {path} au lieu de {wanted}", path=drive.path or Msg("(vide)"),
                                wanted=params.path))
        if params.label is not None and drive.label != params.label:
            problems.append(Msg("nom « {label} » au lieu de « {wanted} »", label=drive.label, wanted=params.label))
        if params.group is not None and not any(_group_matches(name, params.group) and not negated
                                                for name, negated in drive.groups):
            problems.append(Msg("pas de ciblage sur le groupe {group}", group=params.group))
        return problems
