"""Judge of ``ad.gpo_setting`` on what the real ``ldap`` and ``smb`` channels read from a Samba DC.

data/gpo/c01_gpos.json and c01_sysvol.json are the GPO search and the SYSVOL read of the lab DC
(origin in each file and in data/gpo/README.md). Adversarial variants (a value of the wrong type,
a deletion, a disabled user part, an unreadable file...) are derived from them here, each saying
what it changes.
"""

from __future__ import annotations

import base64
import copy
import json
import struct
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.windows.gpo_settings import GpoSetting
from grader.check import evaluate
from grader.model import ProbeResult, Status
from grader.plugins import default_catalogue
from tests.checks.test_gpo_parsers import KEY, pol, pol_record, sz

DATA = Path(__file__).parent / "data" / "gpo"
C, N, E = Status.CONFORME, Status.NON_CONFORME, Status.ERREUR
WALLPAPER = {"gpo": "Fond d'écran", "key": "HKCU\\" + KEY, "name": "Wallpaper", "data": r"\\dc\partage\fond.jpg"}
PASSWORD = {"gpo": "Default Domain Policy", "section": "System Access", "name": "MinimumPasswordLength", "data": 12}
FOND_GUID = "{B208E122-93EA-4C61-B97B-5054F5835119}"


def record(name: str) -> dict:
    data = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    assert data["origin"].startswith("Samba 4.17.12 AD DC in the grader lab")
    return data


def result(data: dict, transport: str, truncated: bool | None = None) -> ProbeResult:
    return ProbeResult(key="k", transport=transport, command=data["command"],
                       stdout=json.dumps(data["output"], ensure_ascii=False), exit_code=data["exit_code"],
                       truncated=data["truncated"] if truncated is None else truncated)


def judge(params: dict, gpos: dict | None = None, sysvol: dict | None = None, **sysvol_extra):
    gpos, sysvol = gpos or record("c01_gpos"), sysvol or record("c01_sysvol")
    check, p = GpoSetting(), GpoSetting.Params(**params)
    declared = check.probes(p)
    assert json.loads(declared["gpos"].command) == json.loads(gpos["command"])
    assert json.loads(declared["sysvol"].command) == json.loads(sysvol["command"])
    assert declared["sysvol"].transport == "smb" and declared["gpos"].transport == "ldap"
    return evaluate(check, p, {"gpos": result(gpos, "ldap"), "sysvol": result(sysvol, "smb", **sysvol_extra)})


def with_file(name: str, entry: dict, guid: str = FOND_GUID) -> dict:
    data = copy.deepcopy(record("c01_sysvol"))
    folder = next(d for d in data["output"]["dirs"] if d["path"].endswith(guid))
    folder["files"][name] = entry
    return data


def with_pol(raw: bytes) -> dict:
    return with_file("User/Registry.pol", {"size": len(raw), "base64": base64.b64encode(raw).decode()})


def test_registered_with_its_jury_sentence():
    assert default_catalogue()["ad.gpo_setting"] is GpoSetting
    p = GpoSetting.Params(**PASSWORD)
    assert GpoSetting.sentence(p) == "La stratégie Default Domain Policy définit MinimumPasswordLength = 12."


def test_registry_value_written_in_sysvol_is_conforme():
    v = judge({**WALLPAPER, "type": "REG_SZ"})
    assert v.status is C, v
    assert FOND_GUID in v.observed and "User/Registry.pol" in v.observed and "fond.jpg" in v.observed


def test_text_compared_without_case_and_the_difference_noted():
    v = judge({**WALLPAPER, "data": r"\\DC\Partage\fond.jpg"})
    assert v.status is C and "casse différente" in v.message


def test_wrong_data_is_non_conforme():
    v = judge({**WALLPAPER, "data": r"\\dc\partage\autre.jpg"})
    assert v.status is N and "autre.jpg" in v.message and "fond.jpg" in v.observed


def test_value_of_the_wrong_type_is_non_conforme():
    # WallpaperStyle is REG_SZ "2" in the recording: a rubric asking for the DWORD 2 must not accept it.
    v = judge({**WALLPAPER, "name": "WallpaperStyle", "data": 2})
    assert v.status is N and "REG_SZ" in v.message
    v = judge({**WALLPAPER, "name": "WallpaperStyle", "data": "2", "type": "REG_EXPAND_SZ"})
    assert v.status is N and "REG_EXPAND_SZ" in v.message
    # Variant: the value written as a DWORD while the rubric asks for a text.
    v = judge({**WALLPAPER, "data": "1"}, sysvol=with_pol(pol(pol_record(KEY, "Wallpaper", 4, struct.pack("<I", 1)))))
    assert v.status is N and "REG_DWORD" in v.message


def test_dword_value():
    raw = pol(pol_record(KEY, "NoDispCPL", 4, struct.pack("<I", 1)))
    assert judge({**WALLPAPER, "name": "NoDispCPL", "data": 1}, sysvol=with_pol(raw)).status is C
    assert judge({**WALLPAPER, "name": "NoDispCPL", "data": 0}, sysvol=with_pol(raw)).status is N


def test_value_deleted_by_the_policy_is_non_conforme():
    raw = pol(pol_record(KEY, "Wallpaper", 1, sz(r"\\dc\partage\fond.jpg")), pol_record(KEY, "**del.Wallpaper", 1, sz(" ")))
    v = judge(WALLPAPER, sysvol=with_pol(raw))
    assert v.status is N and "supprime" in v.message


def test_value_under_another_key_or_part_is_non_conforme():
    v = judge({**WALLPAPER, "key": "HKLM\\" + KEY})  # the value is in the user part, not the computer part
    assert v.status is N and "Machine/Registry.pol" in v.observed
    v = judge({**WALLPAPER, "key": "HKCU\\Software\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop"})
    assert v.status is N


def test_missing_or_misspelt_gpo_is_non_conforme():
    v = judge({**WALLPAPER, "gpo": "Fond d'ecran"})
    assert v.status is N and "accents" in v.message
    v = judge({**WALLPAPER, "gpo": "Papier peint"})
    assert v.status is N and "n'existe pas" in v.message


def test_disabled_user_part_does_not_apply():
    gpos = copy.deepcopy(record("c01_gpos"))
    entry = next(e for e in gpos["output"]["entries"] if e["attributes"]["cn"] == [FOND_GUID])
    entry["attributes"]["flags"] = [1]  # « Paramètres de configuration utilisateur désactivés »
    v = judge(WALLPAPER, gpos=gpos)
    assert v.status is N and "désactivée" in v.message


def test_folder_missing_from_sysvol():
    data = copy.deepcopy(record("c01_sysvol"))
    data["output"]["dirs"] = [d for d in data["output"]["dirs"] if not d["path"].endswith(FOND_GUID)]
    v = judge(WALLPAPER, sysvol=data)
    assert v.status is N and "absents de SYSVOL" in v.message
    assert judge(WALLPAPER, sysvol=data, truncated=True).status is E  # a cut listing proves nothing


def test_unreadable_truncated_or_garbage_file_is_erreur():
    assert judge(WALLPAPER, sysvol=with_file("User/Registry.pol", {"error": "accès refusé (0xC0000022)"})).status is E
    truncated = {"size": 10, "base64": base64.b64encode(b"PReg\x01\0\0\0[\0").decode(), "truncated": True}
    assert judge(WALLPAPER, sysvol=with_file("User/Registry.pol", truncated)).status is E
    garbage = {"size": 4, "base64": base64.b64encode(b"MZ\x90\0").decode()}
    v = judge(WALLPAPER, sysvol=with_file("User/Registry.pol", garbage))
    assert v.status is E and "PReg" in v.message


def test_failed_or_unreadable_probes_are_erreur():
    gpos, sysvol = record("c01_gpos"), record("c01_sysvol")
    p = GpoSetting.Params(**WALLPAPER)
    failed = ProbeResult("k", "smb", sysvol["command"], error="partage SYSVOL illisible : accès refusé")
    assert evaluate(GpoSetting(), p, {"gpos": result(gpos, "ldap"), "sysvol": failed}).status is E
    broken = ProbeResult("k", "smb", sysvol["command"], stdout="<html>", exit_code=0)
    assert evaluate(GpoSetting(), p, {"gpos": result(gpos, "ldap"), "sysvol": broken}).status is E


def test_security_setting_in_gpttmpl():
    assert judge(PASSWORD).status is C
    v = judge({**PASSWORD, "data": 14})
    assert v.status is N and "au lieu de 14" in v.message
    v = judge({**PASSWORD, "name": "LockoutBadCount", "data": 5})
    assert v.status is N and "MinimumPasswordLength = 12" in v.observed
    v = judge({**PASSWORD, "gpo": "Fond d'écran"})  # a GPO without GptTmpl.inf
    assert v.status is N and "fichier absent" in v.observed


def test_windows_utf16_gpttmpl():
    from tests.checks.test_gpo_parsers import WINDOWS_INF

    raw = b"\xff\xfe" + WINDOWS_INF.encode("utf-16le")
    data = with_file("Machine/Microsoft/Windows NT/SecEdit/GptTmpl.inf",
                     {"size": len(raw), "base64": base64.b64encode(raw).decode()},
                     guid="{31B2F340-016D-11D2-945F-00C04FB984F9}")
    assert judge({**PASSWORD, "name": "LockoutBadCount", "data": 5}, sysvol=data).status is C
    rights = {**PASSWORD, "section": "Privilege Rights", "name": "SeRemoteInteractiveLogonRight"}
    assert judge({**rights, "data": ["*S-1-5-32-555", "*S-1-5-32-544"]}, sysvol=data).status is C
    assert judge({**rights, "data": ["*S-1-5-32-544"]}, sysvol=data).status is N


@pytest.mark.parametrize("params", [
    {"gpo": "X", "name": "A", "data": 1},  # neither key nor section
    {**WALLPAPER, "section": "System Access"},  # both
    {**WALLPAPER, "key": "HKU\\S-1-5-18\\Software"},  # a hive GPOs do not write
    {**WALLPAPER, "key": "HKCU"},
    {**PASSWORD, "type": "REG_SZ"},
    {**WALLPAPER, "type": "REG_FOO"},
])
def test_params_are_validated(params):
    with pytest.raises(ValidationError):
        GpoSetting.Params(**params)


# --- [Privilege Rights]: holders named by SID or by name --------------------------------------------

DOMAIN_SID = "S-1-5-21-2024001512-1505681119-3730347374"  # the domain of the c01 recordings
GG_COMPTA = DOMAIN_SID + "-1106"


def rights_judge(params: dict, line: str, principals: ProbeResult | None | str = "recorded"):
    """Judge a [Privilege Rights] setting of the Default Domain Policy whose GptTmpl.inf holds ``line``."""
    inf = f"[Unicode]\r\nUnicode=yes\r\n[Privilege Rights]\r\n{line}\r\n[Version]\r\nsignature=\"$CHICAGO$\"\r\n"
    raw = b"\xff\xfe" + inf.encode("utf-16le")
    data = with_file("Machine/Microsoft/Windows NT/SecEdit/GptTmpl.inf",
                     {"size": len(raw), "base64": base64.b64encode(raw).decode()},
                     guid="{31B2F340-016D-11D2-945F-00C04FB984F9}")
    check, p = GpoSetting(), GpoSetting.Params(gpo="Default Domain Policy", section="Privilege Rights", **params)
    declared = check.probes(p)
    recorded = json.loads((DATA / "c01_principals.json").read_text(encoding="utf-8"))
    assert json.loads(declared["principals"].command) == json.loads(recorded["command"])
    results = {"gpos": result(record("c01_gpos"), "ldap"), "sysvol": result(data, "smb")}
    results["principals"] = result(recorded, "ldap") if principals == "recorded" else principals
    return evaluate(check, p, results)


@pytest.mark.parametrize("holders", [
    ["*S-1-5-32-555", "*S-1-5-32-544"],
    ["Utilisateurs du Bureau à distance", "Administrateurs"],  # as a French Windows displays them
    ["Remote Desktop Users", "BUILTIN\\Administrators"],  # as the directory (and an English Windows) names them
])
def test_right_holders_named_by_sid_or_by_name_are_the_same_holders(holders):
    v = rights_judge({"name": "SeRemoteInteractiveLogonRight", "data": holders},
                     "SeRemoteInteractiveLogonRight = *S-1-5-32-544,*S-1-5-32-555")
    assert v.status is C, v
    assert "S-1-5-32-555 (Remote Desktop Users)" in v.observed and "S-1-5-32-544 (Administrators)" in v.observed
    assert v.expected == "Default Domain Policy : [Privilege Rights] SeRemoteInteractiveLogonRight = " + ", ".join(holders)


def test_a_list_of_holders_reads_as_a_list_in_the_sentence():
    p = GpoSetting.Params(gpo="Sécurité des postes", section="Privilege Rights", name="SeRemoteInteractiveLogonRight",
                          data=["Administrateurs", "Utilisateurs du Bureau à distance"])
    assert GpoSetting.sentence(p) == ("La stratégie Sécurité des postes définit SeRemoteInteractiveLogonRight = "
                                      "Administrateurs, Utilisateurs du Bureau à distance.")


def test_domain_groups_are_resolved_with_the_directory():
    line = f"SeInteractiveLogonRight = *{GG_COMPTA},*{DOMAIN_SID}-512"
    for named in (["GG_Compta", "Admins du domaine"], ["TSSR\\gg_compta", "Domain Admins"]):
        assert rights_judge({"name": "SeInteractiveLogonRight", "data": named}, line).status is C
    v = rights_judge({"name": "SeInteractiveLogonRight", "data": ["GG_Compta"]}, line)
    assert v.status is N
    assert v.message == ("La stratégie « Default Domain Policy » {31B2F340-016D-11D2-945F-00C04FB984F9} n'accorde pas "
                         f"SeInteractiveLogonRight aux titulaires attendus : en trop {DOMAIN_SID}-512 (Domain Admins).")


def test_a_holder_the_directory_does_not_know_is_compared_as_written_and_said():
    v = rights_judge({"name": "SeInteractiveLogonRight", "data": ["GG_Inconnu"]}, f"SeInteractiveLogonRight = *{GG_COMPTA}")
    assert v.status is N
    assert "manque GG_Inconnu ; en trop " + GG_COMPTA + " (GG_Compta)" in v.message
    assert "(inconnu(s) de l'annuaire : GG_Inconnu)" in v.message
    # written by name in the template too (the editor could not resolve it): the same name is the same holder
    assert rights_judge({"name": "SeInteractiveLogonRight", "data": ["gg_inconnu"]},
                        "SeInteractiveLogonRight = GG_Inconnu").status is C


def test_without_the_directory_names_cannot_be_checked_but_sids_still_can():
    failed = ProbeResult(key="k", transport="ldap", command="{}", stderr="connexion perdue", exit_code=1)
    v = rights_judge({"name": "SeInteractiveLogonRight", "data": ["GG_Compta"]}, f"SeInteractiveLogonRight = *{GG_COMPTA}",
                     principals=failed)
    assert v.status is E and v.message.startswith("titulaires du droit impossibles à identifier")
    v = rights_judge({"name": "SeRemoteInteractiveLogonRight", "data": ["Administrateurs", "*S-1-5-32-555"]},
                     "SeRemoteInteractiveLogonRight = *S-1-5-32-544,*S-1-5-32-555", principals=failed)
    assert v.status is C  # well-known accounts and SIDs need no directory


def test_rights_verdicts_read_in_english():
    from grader import i18n_checks

    v = rights_judge({"name": "SeInteractiveLogonRight", "data": ["GG_Inconnu"]}, f"SeInteractiveLogonRight = *{GG_COMPTA}")
    english = i18n_checks.say(v.message_ref, v.message, "en")
    assert english.startswith('The policy "Default Domain Policy" {31B2F340-016D-11D2-945F-00C04FB984F9} does not grant')
    assert "missing GG_Inconnu; extra" in english and "unknown to the directory: GG_Inconnu" in english
