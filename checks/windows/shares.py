"""SMB shares: the share exists, its share permission and the NTFS permission of its folder for a group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import model_validator

from checks._common.text import clip, commas
from checks.windows._ps import (
    Account,
    ExactName,
    enum_name,
    failure,
    joined,
    object_missing,
    ps_quote,
    read_items,
    settle,
)
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.winrm import winrm

# MSFT_SmbShareAccessControlEntry: AccessControlType Allow (0) / Deny (1); AccessRight Full (0),
# Change (1), Read (2), Custom (3). MSFT_SmbShare.ShareState: Pending (0), Online (1), Offline (2).
SHARE_RIGHT = {0: "Full", 1: "Change", 2: "Read", 3: "Custom"}
SHARE_LEVEL = {"Read": 1, "Change": 2, "Full": 3}
SHARE_STATE = {0: "Pending", 1: "Online", 2: "Offline"}
ACCESS_TYPE = {0: "Allow", 1: "Deny"}

# System.Security.AccessControl.FileSystemRights (winnt.h access masks).
SYNCHRONIZE = 0x100000
RIGHTS = {
    "read": 0x20089,  # ReadData | ReadExtendedAttributes | ReadAttributes | ReadPermissions
    "read_execute": 0x200A9,  # Read | ExecuteFile
    "write": 0x116,  # WriteData | AppendData | WriteExtendedAttributes | WriteAttributes
    "modify": 0x301BF,  # ReadAndExecute | Write | Delete
    "full_control": 0x1F01FF,
}
NAMED_MASKS = {0x1F01FF: "FullControl", 0x301BF: "Modify", 0x200A9: "ReadAndExecute", 0x20089: "Read", 0x116: "Write",
               0x1: "ListDirectory"}
#: NTFS rights as people name them (a Msg: its ``str`` is the French name, a report says it in its language).
FRENCH_RIGHT = {"read": Msg("lecture"), "read_execute": Msg("lecture et exécution"), "write": Msg("écriture"),
                "modify": Msg("modification"), "full_control": Msg("contrôle total")}
# Generic rights (seen on inherited ACEs such as CREATOR OWNER's) mapped as for files (FILE_GENERIC_*).
GENERIC = {0x80000000: 0x120089, 0x40000000: 0x120116, 0x20000000: 0x1200A0, 0x10000000: 0x1F01FF}
INHERIT_ONLY = 2  # PropagationFlags.InheritOnly: the ACE does not apply to the folder itself


def effective_mask(value: Any) -> int:
    """A FileSystemRights value (an Int32: generic bits make it negative) as specific rights."""
    mask = int(value) & 0xFFFFFFFF
    for generic, specific in GENERIC.items():
        if mask & generic:
            mask = (mask & ~generic) | specific
    return mask


def rights_name(value: Any) -> str:
    try:
        mask = effective_mask(value)
    except (TypeError, ValueError):
        return str(value)
    for candidate in (mask, mask & ~SYNCHRONIZE, mask | SYNCHRONIZE):
        if candidate in NAMED_MASKS:
            return NAMED_MASKS[candidate]
    return f"0x{mask:X}"


class SmbShare(Check):
    """Le partage {share} existe avec les permissions attendues.

    From ``Get-SmbShare``, ``Get-SmbShareAccess`` and ``Get-Acl`` on the shared folder.
    Conforme when the share exists and is online (an ``Offline`` share serves nobody: non
    conforme; a ``Pending`` or unknown state: erreur), is shared from ``path`` when given, and, for
    ``group``: its share permission reaches ``share_access`` (read < change < full) with no
    Deny entry for it, and the NTFS permissions of the folder that apply to the folder itself
    (explicit or inherited, not inherit-only) give it at least ``ntfs_access`` with nothing of
    it denied. The group is compared as Windows does (case-insensitive, accents exact), with
    or without its domain (``TSSR\\Comptabilité`` or ``Comptabilité``); a built-in account
    (« Tout le monde », ``Everyone``, ``BUILTIN\\Administrateurs``, « Utilisateurs du domaine »,
    ``S-1-5-18``...) by its SID, which the probes read beside each name, so that a French rubric
    grades an English server and the reverse (:class:`~checks.windows._ps.Account`). Only the
    group's own entries count, not those of groups it belongs to (``Tout le monde``...).
    """

    id = "windows.smb_share"
    usually_serves = ("CP8.3",)
    example = r"{share: Compta, path: D:\Partages\Compta, group: DL_Partage_Compta, share_access: change}"
    platform = "windows"
    transport = "winrm"

    class Params(CheckParams):
        share: ExactName
        path: str | None = None
        group: ExactName | None = None
        share_access: Literal["read", "change", "full"] | None = None
        ntfs_access: Literal["read", "read_execute", "write", "modify", "full_control"] | None = None

        @model_validator(mode="after")
        def _group_for_rights(self) -> SmbShare.Params:
            if (self.share_access or self.ntfs_access) and not self.group:
                raise ValueError("share_access et ntfs_access demandent « group » (le groupe concerné)")
            return self

    def probes(self, params: Params) -> Mapping[str, Probe]:
        name = ps_quote(params.share)
        probes = {"share": winrm(f"Get-SmbShare -Name {name} -ErrorAction Stop | "
                                 "Select-Object -Property 'Name', 'Path', 'Description', 'ShareState' | "
                                 "ConvertTo-Json -Depth 4")}
        if params.share_access:
            probes["access"] = winrm(
                f"Get-SmbShareAccess -Name {name} -ErrorAction Stop | Select-Object -Property "
                "'Name', 'ScopeName', 'AccountName', 'AccessControlType', 'AccessRight', "
                "@{Name='AccountSid'; Expression={ try { ([System.Security.Principal.NTAccount]$_.AccountName)"
                ".Translate([System.Security.Principal.SecurityIdentifier]).Value } catch { $null } }} | "
                "ConvertTo-Json -Depth 4")
        if params.ntfs_access:
            probes["ntfs"] = winrm(
                f"$share = Get-SmbShare -Name {name} -ErrorAction Stop; "
                "(Get-Acl -LiteralPath $share.Path -ErrorAction Stop).Access | ForEach-Object -Process { "
                "[pscustomobject]@{ IdentityReference = [string]$_.IdentityReference; IdentitySid = $(try { "
                "$_.IdentityReference.Translate([System.Security.Principal.SecurityIdentifier]).Value } "
                "catch { $null }); "
                "FileSystemRights = $_.FileSystemRights; AccessControlType = $_.AccessControlType; "
                "IsInherited = $_.IsInherited; InheritanceFlags = $_.InheritanceFlags; "
                "PropagationFlags = $_.PropagationFlags } } | ConvertTo-Json -Depth 4")
        return probes

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = self._expected(params)
        r = results["share"]
        f = failure(r)
        if object_missing(f):
            return Verdict.non_conforme(Msg("partage inexistant"), expected,
                                        Msg("Aucun partage nommé « {share} ».", share=params.share))
        found = read_items(r, "Get-SmbShare", expected)
        if isinstance(found, Verdict):
            return found
        if len(found) != 1:
            return Verdict.erreur(Msg("Get-SmbShare a renvoyé {count} partages", count=len(found)), expected=expected)
        share = found[0]
        observed: list[str | Msg] = [
            f"{share.get('Name')} → {share.get('Path')} ({enum_name(share.get('ShareState'), SHARE_STATE)})"
            if share.get("ShareState") is not None else
            Msg("{name} → {path} ((vide))", name=str(share.get("Name")), path=str(share.get("Path")))]
        state = enum_name(share.get("ShareState"), SHARE_STATE) if share.get("ShareState") is not None else None
        if state == "Offline":
            return Verdict.non_conforme(observed[0], expected, Msg("Le partage {share} est hors ligne (Offline) : il ne "
                                                                   "sert personne.", share=params.share))
        if state != "Online":
            return Verdict.erreur(Msg("état du partage {share} : {state} (ni Online ni Offline) : impossible de "
                                      "conclure", share=params.share, state=state or Msg("(vide)")),
                                  observed=observed[0], expected=expected)
        if params.path and not _same_path(share.get("Path"), params.path):
            return Verdict.non_conforme(observed[0], expected,
                                        Msg("Le partage {share} partage {found}, pas {path}.", share=params.share,
                                            found=share.get("Path"), path=params.path))
        problems: list[str | Msg] = []
        if params.share_access:
            verdict = self._share_access(params, results["access"], observed, problems, expected)
            if verdict is not None:
                return verdict
        if params.ntfs_access:
            verdict = self._ntfs(params, results["ntfs"], observed, problems, expected)
            if verdict is not None:
                return verdict
        return settle(observed, problems, expected,
                      Msg("Le partage {share} est configuré comme attendu.", share=params.share))

    def _expected(self, p: Params) -> Msg:
        return Msg("partage {share}{path}{share_access}{ntfs_access}", share=p.share,
                   path=Msg(" de {path}", path=p.path) if p.path else "",
                   share_access=Msg(", partage : {access} pour {group}", access=p.share_access, group=p.group)
                   if p.share_access else "",
                   ntfs_access=Msg(", NTFS : {right} pour {group}", right=FRENCH_RIGHT[p.ntfs_access], group=p.group)
                   if p.ntfs_access else "")

    def _share_access(self, p: Params, r: ProbeResult, observed: list[str | Msg], problems: list[str | Msg],
                      expected: str | Msg) -> Verdict | None:
        entries = read_items(r, "Get-SmbShareAccess", expected)
        if isinstance(entries, Verdict):
            return entries
        group = Account.of(p.group or "")
        mine = [e for e in entries if group.matches(e.get("AccountName"), _text(e.get("AccountSid")))]
        observed.append(Msg("partage : {entries}",
                            entries=", ".join(f"{e.get('AccountName')} {enum_name(e.get('AccessControlType'), ACCESS_TYPE)} "
                                              f"{enum_name(e.get('AccessRight'), SHARE_RIGHT)}" for e in entries)
                            or Msg("aucune entrée")))
        if any(enum_name(e.get("AccessControlType"), ACCESS_TYPE) == "Deny" for e in mine):
            problems.append(Msg("Une autorisation de partage « Refuser » vise {group}.", group=p.group))
            return None
        allowed = [enum_name(e.get("AccessRight"), SHARE_RIGHT) for e in mine]
        want = SHARE_LEVEL[p.share_access.capitalize()]  # type: ignore[union-attr]
        if any(SHARE_LEVEL.get(a, 0) >= want for a in allowed):
            return None
        if "Custom" in allowed:
            return Verdict.erreur(Msg("droit de partage personnalisé (Custom) pour {group} : à vérifier à la main",
                                      group=p.group), observed=joined(observed), expected=expected)
        problems.append(Msg("Le groupe {group} n'a pas le droit de partage {share_access} ({value}).", group=p.group,
                            share_access=p.share_access, value=", ".join(allowed) or Msg("aucune entrée")))
        return None

    def _ntfs(self, p: Params, r: ProbeResult, observed: list[str | Msg], problems: list[str | Msg],
              expected: str | Msg) -> Verdict | None:
        access = p.ntfs_access
        if access is None:  # asked only when the rubric names a right (see judge)
            return None
        aces = read_items(r, "Get-Acl", expected)
        if isinstance(aces, Verdict):
            return aces
        allowed = denied = 0
        seen: list[str | Msg] = []
        group = Account.of(p.group or "")
        for ace in aces:
            if not group.matches(ace.get("IdentityReference"), _text(ace.get("IdentitySid"))):
                continue
            try:
                mask = effective_mask(ace.get("FileSystemRights"))
                propagation = int(ace.get("PropagationFlags") or 0)
            except (TypeError, ValueError):
                return Verdict.erreur(Msg("entrée NTFS illisible"), observed=clip(str(ace), crlf=True),
                                      expected=expected)
            kind = enum_name(ace.get("AccessControlType"), ACCESS_TYPE)
            entry = {"account": str(ace.get("IdentityReference")), "kind": kind,
                     "rights": rights_name(ace.get("FileSystemRights"))}
            if propagation & INHERIT_ONLY:
                seen.append(Msg("{account} {kind} {rights} ({origin}, sous-dossiers seulement)",
                                origin=Msg("héritée") if ace.get("IsInherited") else Msg("explicite"), **entry))
            else:
                seen.append(Msg("{account} {kind} {rights} (héritée)", **entry) if ace.get("IsInherited") else
                            Msg("{account} {kind} {rights} (explicite)", **entry))
            if propagation & INHERIT_ONLY:
                continue
            if kind == "Deny":
                denied |= mask
            elif kind == "Allow":
                allowed |= mask
        observed.append(Msg("NTFS : {entries}", entries=commas(seen)) if seen else
                        Msg("NTFS : aucune entrée pour {group}", group=p.group))
        required = RIGHTS[access]
        if denied & required:
            problems.append(Msg("Des droits NTFS sont refusés à {group} ({rights_name}).", group=p.group,
                                rights_name=rights_name(denied)))
        elif allowed & required != required:
            problems.append(Msg("Le groupe {group} n'a pas le droit NTFS « {right} » sur le dossier partagé.",
                                group=p.group, right=FRENCH_RIGHT[access]))
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _same_path(actual: Any, wanted: str) -> bool:
    if not isinstance(actual, str):
        return False
    return actual.rstrip("\\").casefold() == wanted.rstrip("\\").casefold()
