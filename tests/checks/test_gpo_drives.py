"""``ad.gpo_drive_map``: Drives.xml (Group Policy Preferences) parsed and judged.

data/gpp/Drives.xml is written from MS-GPPREF §2.2.1.4 (origin in the file). The GPO search is the
lab DC's real one (data/gpo/c01_gpos.json, « Fond d'écran »); the SYSVOL read is in the ``smb``
channel's format with that GPO's folder holding the file (tests/test_user_side_lab.py reads a real
Drives.xml written over SMB on the lab DC).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.windows.gpo_drives import DRIVES_XML, GpoDriveMap, parse_drives_xml, same_unc
from grader.check import evaluate
from grader.model import ProbeResult, Status
from tests.checks.test_gpo_setting import FOND_GUID, record, result

XML = (Path(__file__).parent / "data" / "gpp" / "Drives.xml").read_bytes()
C, N, E = Status.CONFORME, Status.NON_CONFORME, Status.ERREUR
FOND = "Fond d'écran"


def sysvol(entry: dict | None) -> ProbeResult:
    files = {} if entry is None else {DRIVES_XML: entry}
    out = {"share": "SYSVOL", "dirs": [{"path": f"tssr.lan/Policies/{FOND_GUID}", "files": files}]}
    return ProbeResult(key="s", transport="smb", command=GpoDriveMap().probes(_p())["sysvol"].command,
                       stdout=json.dumps(out), exit_code=0)


def _p(**params) -> GpoDriveMap.Params:
    return GpoDriveMap.Params(**{"gpo": FOND, "letter": "S", "path": r"\\srv-fichiers\compta", **params})


def judge(data: bytes | None = XML, gpos: dict | None = None, **params):
    entry = None if data is None else {"size": len(data), "base64": base64.b64encode(data).decode()}
    return evaluate(GpoDriveMap(), _p(**params), {"gpos": result(gpos or record("c01_gpos"), "ldap"),
                                                  "sysvol": sysvol(entry)})


def test_parse_every_item_as_the_client_reads_it():
    drives = {d.letter: d for d in parse_drives_xml(XML)}
    assert set(drives) == {"S", "D", "T", "U"}
    assert drives["S"].path == "\\\\srv-fichiers\\Compta\\" and drives["S"].groups == (("TSSR\\GG_Compta", False),)
    assert drives["D"].action == "D" and drives["T"].disabled and drives["U"].has_password
    assert drives["U"].groups == (("TSSR\\GG_Stagiaires", True),)
    utf16 = XML.decode("utf-8").replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    assert parse_drives_xml(utf16) == parse_drives_xml(XML)  # the editor may save either
    with pytest.raises(ValueError, match="XML"):
        parse_drives_xml(b"<Drives><Drive>")
    assert same_unc("\\\\SRV-fichiers\\Compta\\", "\\\\srv-fichiers\\compta")


def test_the_drive_mapped_as_asked_is_conforme_case_and_trailing_backslash_aside():
    v = judge(group="GG_Compta", label="Comptabilité")
    assert v.status is C and "S: → \\\\srv-fichiers\\Compta\\ [U]" in v.observed


@pytest.mark.parametrize(("params", "said"), [
    ({"letter": "T", "path": r"\\srv-fichiers\technique"}, "élément désactivé"),
    ({"letter": "D", "path": r"\\srv-fichiers\compta"}, "« supprimer »"),
    ({"path": r"\\srv-fichiers\direction"}, "au lieu de"),
    ({"group": "GG_Direction"}, "pas de ciblage sur le groupe GG_Direction"),
    ({"letter": "U", "path": r"\\srv-fichiers\direction", "group": "GG_Stagiaires"}, "pas de ciblage"),  # negated
    ({"letter": "Z"}, "ne connecte pas le lecteur Z:"),
    ({"action": "C"}, "« mettre à jour »"),
])
def test_a_mapping_that_does_not_apply_as_asked_is_non_conforme(params, said):
    v = judge(**params)
    assert v.status is N and said in v.message, v.message


def test_a_stored_password_is_said_never_shown():
    v = judge(letter="U", path=r"\\srv-fichiers\direction")
    assert v.status is C and "cpassword" in v.observed and "j1Uyj3" not in v.observed


def test_no_drives_xml_a_disabled_user_part_an_unreadable_file():
    assert judge(None).status is N and "pas de Drives.xml" in judge(None).message
    gpos = record("c01_gpos")
    for entry in gpos["output"]["entries"]:
        if entry["attributes"].get("displayName") == [FOND]:
            entry["attributes"]["flags"] = [1]  # user part disabled
    v = judge(gpos=gpos)
    assert v.status is N and "partie Utilisateur est désactivée" in v.message
    assert judge(b"<Drives").status is E
    denied = evaluate(GpoDriveMap(), _p(), {"gpos": result(record("c01_gpos"), "ldap"),
                                            "sysvol": sysvol({"error": "accès refusé (0xC0000022)"})})
    assert denied.status is E


def test_params_are_a_letter_and_a_unc_path():
    assert _p(letter="s:").letter == "S"
    with pytest.raises(ValidationError, match="lettre"):
        _p(letter="SS")
    with pytest.raises(ValidationError, match="UNC"):
        _p(path="S:/compta")
