"""A GPO's settings read where clients read them: its files in SYSVOL, over SMB (entry point ``windows_gpo``).

Design: the check declares two probes on the DC, on two channels, and joins them in its pure
judge. The ``ldap`` probe is the GPO search every ``ad.gpo_*`` check already shares: it maps
the display name the rubric knows (« Fond d'écran ») to the GPO's {GUID}, its
``gPCFileSysPath`` (where clients look for its files) and its ``flags`` (a disabled user or
computer part). The ``smb`` probe reads the policy files of *every* GPO under
``SYSVOL\\*\\Policies\\*`` in one session — one read shared by every GPO-setting check of the
DC, a few KiB per GPO in an exam domain. Keeping the channels apart (rather than an SMB
channel that would itself query LDAP to find one path) keeps each channel to its own
protocol and contract, gives one SMB session and one LDAP session per DC per run whatever the
number of checks, and leaves the evidence of both reads in the store, so ``rejudge`` works.
If either channel fails, the runner makes the check ``injoignable``/``erreur``, never
``non_conforme``.

What counts as "set": a Registry.pol value present after the file's own deletion
instructions, with the expected type and data; a GptTmpl.inf line in the given section with
the expected value. A GPO whose matching part (user or computer) is disabled does not apply
the setting: that is reported and judged ``non_conforme``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from checks._common.text import commas
from checks.windows._ad import Entry, clip_list, gpo_guid, gpo_missing, gpo_names, gpo_near_misses, gpos_named, read
from checks.windows._gpo import (
    Holders,
    PolRecord,
    as_int,
    deletions,
    effective_values,
    parse_inf,
    parse_registry_pol,
    same_setting,
    show_data,
)
from checks.windows._ps import bars
from checks.windows.ad._directory import GPOS, PRINCIPALS
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.plugins import hookimpl
from grader.probes import smb

MACHINE_POL, USER_POL = "Machine/Registry.pol", "User/Registry.pol"
SECURITY_INF = "Machine/Microsoft/Windows NT/SecEdit/GptTmpl.inf"
POLICY_FILES = smb.read_tree("SYSVOL", "*/Policies/*", ["GPT.INI", MACHINE_POL, USER_POL, SECURITY_INF])
FLAG_USER_DISABLED, FLAG_MACHINE_DISABLED = 1, 2
_HIVES = {"hklm": "machine", "hkey_local_machine": "machine", "hkcu": "user", "hkey_current_user": "user"}
RegType = Literal["REG_SZ", "REG_EXPAND_SZ", "REG_DWORD", "REG_QWORD", "REG_MULTI_SZ", "REG_BINARY"]
_NUMERIC = ("REG_DWORD", "REG_QWORD", "REG_DWORD_BIG_ENDIAN")
_TEXT = ("REG_SZ", "REG_EXPAND_SZ")


def split_hive(key: str) -> tuple[str, str]:
    """``HKCU\\Software\\…`` -> ("user", ``Software\\…``); raises ValueError (French) for another hive."""
    head, _, rest = key.replace("/", "\\").strip("\\").partition("\\")
    part = _HIVES.get(head.lower())
    if part is None or not rest:
        raise ValueError("clé de registre attendue sous HKLM\\ (Ordinateur) ou HKCU\\ (Utilisateur), "
                         "ex. HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Policies\\System")
    return part, rest


class GpoSetting(Check):
    """La stratégie {gpo} définit {name} = {data}.

    A registry policy (administrative template) is named by ``key`` (``HKLM\\…`` for the
    computer part, ``HKCU\\…`` for the user part), ``name`` (the value) and ``data``; ``type``
    (``REG_SZ``, ``REG_DWORD``…) is checked when given, else inferred from ``data`` (a number
    asks for a DWORD/QWORD, a text for REG_SZ/REG_EXPAND_SZ, a list for REG_MULTI_SZ). A
    security setting is named by ``section`` of GptTmpl.inf (``System Access``, ``Privilege
    Rights``…), ``name`` and ``data``. Text data is compared without regard to case (paths and
    names on Windows), and the case difference noted. A right's holders (``Privilege Rights``)
    are compared as a set of accounts, each named by SID (``*S-1-5-32-555``) or by name: a name
    the directory lists (sAMAccountName, read over LDAP with the same account) or a well-known
    one in English or French (« Utilisateurs du Bureau à distance », « Admins du domaine »).
    """

    id = "ad.gpo_setting"
    platform = "windows"
    transport = "smb"

    class Params(CheckParams):
        gpo: str = Field(min_length=1)
        name: str = Field(min_length=1)
        data: int | str | list[str]
        key: str | None = None
        type: RegType | None = None
        section: str | None = None

        @model_validator(mode="after")
        def _one_kind(self) -> GpoSetting.Params:
            if (self.key is None) == (self.section is None):
                raise ValueError("indiquez soit « key » (valeur de registre), soit « section » (GptTmpl.inf)")
            if self.key is not None:
                split_hive(self.key)
            elif self.type is not None:
                raise ValueError("« type » ne s'applique qu'à une valeur de registre (« key »)")
            return self

    def probes(self, params: Params) -> Mapping[str, Probe]:
        probes = {"gpos": GPOS, "sysvol": POLICY_FILES}
        if _rights(params):  # holders named by the rubric are resolved with the directory's accounts
            probes["principals"] = PRINCIPALS
        return probes

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        gpos = read(results["gpos"], Msg("stratégies de groupe"))
        if isinstance(gpos, Verdict):
            return gpos
        expected = _expected(params)
        found = gpos_named(params.gpo, gpos)
        if not found:
            close = gpo_near_misses(params.gpo, gpos)
            return Verdict.non_conforme(Msg("stratégies présentes : {names}", names=clip_list(gpo_names(gpos))), expected,
                                        gpo_missing(params.gpo, close))
        sysvol = results["sysvol"]
        try:
            dirs = smb.parse_output(sysvol)
        except ValueError as exc:
            return Verdict.erreur(Msg("lecture de SYSVOL illisible : {exc}", exc=exc), expected=expected)
        holders = _holders(results.get("principals"))
        verdicts = [self._one(params, gpo, dirs, sysvol.truncated, expected, holders) for gpo in found]
        best = next((v for v in verdicts if v.status.value == "conforme"), None)
        if best is not None:
            return best
        if len(verdicts) > 1:  # several GPOs share the name: say so, judge on all of them
            first = verdicts[0]
            return Verdict(first.status, bars([v.observed for v in verdicts]), expected,
                           Msg("{count} stratégies s'appellent « {gpo} » ; aucune ne définit le paramètre : {message}",
                               count=len(verdicts), gpo=params.gpo, message=first.message))
        return verdicts[0]

    def _one(self, params: Params, gpo: Entry, dirs: list[dict[str, Any]], truncated: bool,
             expected: str | Msg, holders: Holders | Verdict) -> Verdict:
        found = sysvol_folder(gpo, dirs, truncated, expected)
        if isinstance(found, Verdict):
            return found
        label, path, files = found
        if params.key is not None:
            part, key = split_hive(params.key)
            name = MACHINE_POL if part == "machine" else USER_POL
        else:
            part, key, name = "machine", "", SECURITY_INF
        where = Msg("{label} : {path}/{file}", label=label, path=path, file=name)
        entry = files.get(name) or {"absent": True}
        if entry.get("error"):
            return Verdict.erreur(Msg("{name} de la stratégie {label} illisible : {error}", name=name, label=label,
                                      error=entry["error"]), observed=where, expected=expected)
        if entry.get("truncated"):
            return Verdict.erreur(Msg("{name} de la stratégie {label} trop grand, lu en partie : impossible de "
                                      "conclure", name=name, label=label), observed=where, expected=expected)
        flags = as_int(gpo.first("flags", 0)) or 0
        disabled = flags & (FLAG_MACHINE_DISABLED if part == "machine" else FLAG_USER_DISABLED)
        part_fr = Msg("Ordinateur") if part == "machine" else Msg("Utilisateur")
        if entry.get("absent"):
            return Verdict.non_conforme(Msg("{where} : fichier absent", where=where), expected,
                                        Msg("La stratégie {label} ne définit aucun paramètre de ce type (pas de "
                                            "{file}, partie {part}).", label=label, file=name.rsplit("/", 1)[-1],
                                            part=part_fr))
        raw = smb.file_bytes(entry)
        if params.key is not None:
            verdict = _judge_registry(params, key, raw, where, expected, label)
        else:
            verdict = _judge_security(params, raw, where, expected, label, holders)
        if verdict.status.value == "conforme" and disabled:
            return Verdict.non_conforme(Msg("{observed} ; flags={flags}", observed=verdict.observed,
                                            flags=flags), expected,
                                        Msg("La stratégie {label} définit le paramètre, mais sa partie {part} est "
                                            "désactivée : il ne s'applique pas.", label=label, part=part_fr))
        return verdict


def _expected(params: GpoSetting.Params) -> Msg:
    if params.key is not None:
        kind = f" ({params.type})" if params.type else ""
        return Msg("{gpo} : {key}\\{name} = {data}{kind}", gpo=params.gpo, key=params.key, name=params.name,
                   data=show_data(params.data), kind=kind)
    data = _holders_written(params.data) if _rights(params) else show_data(params.data)
    return Msg("{gpo} : [{section}] {name} = {data}", gpo=params.gpo, section=str(params.section), name=params.name,
               data=data)


def _holders_written(data: Any) -> str:
    """A right's holders as the rubric names them: « Administrateurs, Utilisateurs du Bureau à distance »."""
    return ", ".join(str(d) for d in data) if isinstance(data, list) else str(data)


def sysvol_folder(gpo: Entry, dirs: list[dict[str, Any]], truncated: bool,
                  expected: str | Msg) -> tuple[Msg, str, dict[str, Any]] | Verdict:
    """(the GPO's label, its SYSVOL folder, that folder's files), or the verdict when it has none.

    No folder is non conforme (clients apply nothing), unless the folder list was cut short: then
    nobody can tell, and it is erreur.
    """
    guid = gpo_guid(gpo)
    label = Msg("« {value} » {guid}", value=str(gpo.first("displayName")), guid=guid)
    folder = folder_of(gpo, guid, dirs)
    if isinstance(folder, Msg):
        if truncated:
            return Verdict.erreur(Msg("liste des dossiers de SYSVOL tronquée : impossible de conclure"),
                                  observed=folder, expected=expected)
        return Verdict.non_conforme(folder, expected, Msg("Les fichiers de la stratégie {label} sont absents de "
                                                          "SYSVOL : elle ne s'applique pas.", label=label))
    return label, *folder


def folder_of(gpo: Entry, guid: str, dirs: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | Msg:
    """The SYSVOL folder clients use for this GPO (from gPCFileSysPath), or why there is none."""
    by_path = {str(d.get("path", "")).lower(): d for d in dirs}
    fs_path = str(gpo.first("gPCFileSysPath") or "")
    parts = [p for p in fs_path.replace("/", "\\").split("\\") if p]
    if len(parts) >= 3 and parts[1].lower() == "sysvol":
        rel = "/".join(parts[2:])
        hit = by_path.get(rel.lower())
        if hit is not None:
            return str(hit["path"]), hit.get("files") or {}
        return Msg("gPCFileSysPath={path} : dossier {folder} absent de SYSVOL", path=fs_path, folder=rel)
    if fs_path:
        return Msg("gPCFileSysPath={path} : hors du partage SYSVOL lu par le correcteur", path=fs_path)
    hits = [d for d in dirs if str(d.get("path", "")).lower().endswith("/policies/" + guid.lower())]
    if hits:
        return str(hits[0]["path"]), hits[0].get("files") or {}
    return Msg("aucun dossier Policies/{guid} dans SYSVOL (gPCFileSysPath absent)", guid=guid)


def _judge_registry(params: GpoSetting.Params, key: str, raw: bytes, where: str | Msg, expected: str | Msg,
                    label: str | Msg) -> Verdict:
    try:
        records = parse_registry_pol(raw)
    except ValueError as exc:
        return Verdict.erreur(Msg("Registry.pol de la stratégie {label} illisible : {exc}", label=label, exc=exc),
                              observed=where, expected=expected)
    values = effective_values(records, key)
    others = clip_list([str(r.shown()) for r in values.values()], 6)
    record = values.get(params.name.lower())
    if record is None:
        gone = deletions(records, key, params.name)
        why = (Msg(" : la stratégie la supprime (paramètre « Désactivé »)") if gone else "")
        return Verdict.non_conforme(Msg("{where} : valeurs de la clé : {values}", where=where, values=others), expected,
                                    Msg("La stratégie {label} ne définit pas {name} sous {key}{why}.", label=label,
                                        name=params.name, key=params.key, why=why))
    observed = Msg("{where} : {record}", where=where, record=record.shown())
    problem = _registry_mismatch(params, record)
    if problem:
        return Verdict.non_conforme(observed, expected, Msg("La stratégie {label} définit {name}, mais {problem}.",
                                                            label=label, name=params.name, problem=problem))
    note = ""
    if isinstance(record.data, str) and isinstance(params.data, str) and record.data != params.data:
        note = Msg(" (casse différente, indifférente pour Windows)")
    return Verdict.conforme(observed, expected, Msg("La stratégie {label} définit {name} = {data}{note}.", label=label,
                                                    name=params.name, data=show_data(record.data), note=note))


def _registry_mismatch(params: GpoSetting.Params, record: PolRecord) -> Msg | str:
    """Why the record is not the asked one (a Msg), or "" when it is."""
    kind = record.type_name
    if params.type is not None:
        if kind != params.type:
            return Msg("avec le type {kind} au lieu de {type}", kind=kind, type=params.type)
    elif isinstance(params.data, (bool, int)):
        if kind not in _NUMERIC:
            return Msg("avec le type {kind} au lieu d'un nombre (REG_DWORD)", kind=kind)
    elif isinstance(params.data, list):
        if kind != "REG_MULTI_SZ":
            return Msg("avec le type {kind} au lieu de REG_MULTI_SZ", kind=kind)
    elif kind not in _TEXT:
        return Msg("avec le type {kind} au lieu d'un texte (REG_SZ)", kind=kind)
    if kind in _NUMERIC:
        want = as_int(params.data)
        if want is None or want != record.data:
            return Msg("à {found} au lieu de {wanted}", found=str(record.data), wanted=str(params.data))
        return ""
    if kind == "REG_MULTI_SZ":
        want_list = params.data if isinstance(params.data, list) else [str(params.data)]
        if [w.lower() for w in want_list] != [str(d).lower() for d in record.data]:
            return Msg("à {found} au lieu de {wanted}", found=show_data(record.data), wanted=show_data(want_list))
        return ""
    if kind in _TEXT:
        if str(params.data).lower() != str(record.data).lower():
            return Msg("à {found} au lieu de {wanted}", found=show_data(record.data),
                       wanted=show_data(str(params.data)))
        return ""
    want_hex = str(params.data).lower().replace(" ", "").removeprefix("0x")
    if want_hex != str(record.data).lower():
        return Msg("à {found} au lieu de {wanted}", found=str(record.data), wanted=str(params.data))
    return ""


def _rights(params: GpoSetting.Params) -> bool:
    return (params.section or "").strip().lower() == "privilege rights"


def _holders(result: ProbeResult | None) -> Holders | Verdict:
    """The directory's accounts (sAMAccountName -> SID) for resolving a right's holders, or why they cannot be read."""
    if result is None:
        return Holders()
    principals = read(result, Msg("comptes et groupes"))
    if isinstance(principals, Verdict):
        return principals
    return Holders({str(e.first("sAMAccountName")): str(e.first("objectSid")) for e in principals.entries
                    if e.first("sAMAccountName") and str(e.first("objectSid") or "").startswith("S-")})


def _judge_rights(params: GpoSetting.Params, found: tuple[str, str], observed: Msg, expected: str | Msg,
                  label: str | Msg, holders: Holders | Verdict) -> Verdict:
    """``[Privilege Rights]``: the same holders, whether written as SIDs or names (resolved, see :class:`Holders`)."""
    if isinstance(holders, Verdict):  # names cannot be resolved without the directory
        names = Holders()
        if not (names.unresolved(names.keys(params.data)) or names.unresolved(names.keys(found[1]))):
            holders = names  # SIDs and well-known names only: the directory is not needed
        else:
            return Verdict.erreur(Msg("titulaires du droit impossibles à identifier : {reason}",
                                      reason=holders.message), observed=observed,
                                  expected=expected)
    want, have = holders.keys(params.data), holders.keys(found[1])
    shown = Msg("{observed} — {holders}", observed=observed,
                holders=commas([holders.shown(k) for k in sorted(have)]) or Msg("(aucun)"))
    if want == have:
        return Verdict.conforme(shown, expected, Msg("La stratégie {label} accorde {name} à : {holders}.", label=label,
                                                     name=params.name,
                                                     holders=commas([holders.shown(k) for k in sorted(have)])))
    problems: list[Msg] = []
    if want - have:
        problems.append(Msg("manque {holders}", holders=commas([holders.shown(k) for k in sorted(want - have)])))
    if have - want:
        problems.append(Msg("en trop {holders}", holders=commas([holders.shown(k) for k in sorted(have - want)])))
    unknown = holders.unresolved(want)
    note = Msg(" (inconnu(s) de l'annuaire : {names})", names=", ".join(unknown)) if unknown else ""
    return Verdict.non_conforme(shown, expected, Msg("La stratégie {label} n'accorde pas {name} aux titulaires "
                                                     "attendus : {problems}{note}.", label=label, name=params.name,
                                                     problems=tuple(problems), note=note))


def _judge_security(params: GpoSetting.Params, raw: bytes, where: str | Msg, expected: str | Msg, label: str | Msg,
                    holders: Holders | Verdict | None = None) -> Verdict:
    try:
        sections = parse_inf(raw)
    except ValueError as exc:
        return Verdict.erreur(Msg("GptTmpl.inf de la stratégie {label} illisible : {exc}", label=label, exc=exc),
                              observed=where, expected=expected)
    section = str(params.section)
    lines = sections.get(section.lower(), {})
    found = lines.get(params.name.lower())
    if found is None:
        present = clip_list([f"{n} = {v}" for n, v in lines.values()], 8)
        shown = Msg("{where} : [{section}] {values}", where=where, section=section, values=present)
        return Verdict.non_conforme(shown, expected,
                                    Msg("La stratégie {label} ne définit pas {name} dans [{section}].", label=label,
                                        name=params.name, section=section))
    observed = Msg("{where} : [{section}] {name} = {found}", where=where, section=section, name=found[0],
                   found=found[1])
    if _rights(params):
        return _judge_rights(params, found, observed, expected, label, holders if holders is not None else Holders())
    if not same_setting(section, params.data, found[1]):
        return Verdict.non_conforme(observed, expected,
                                    Msg("La stratégie {label} définit {name} = {found} au lieu de {wanted}.",
                                        label=label, name=params.name, found=found[1], wanted=show_data(params.data)))
    return Verdict.conforme(observed, expected, Msg("La stratégie {label} définit {name} = {found}.", label=label,
                                                    name=params.name, found=found[1]))


CHECKS: tuple[type[Check], ...] = (GpoSetting,)


@hookimpl
def grader_register_checks() -> list[type[Check]]:
    """The GPO checks that read SYSVOL (LDAP for the GPO, SMB for its files): settings, drive maps."""
    from checks.windows.gpo_drives import GpoDriveMap  # it imports this module: registered from here

    return [*CHECKS, GpoDriveMap]
