"""Parsers of a GPO's files (Registry.pol, GptTmpl.inf) and of a security descriptor.

Real files come from a Samba 4.17 DC in the lab (data/gpo/README.md says how each was made).
Crafted files are written here by small independent encoders that follow the format
descriptions (MS-GPREG 2.1 for PReg, MS-DTYP 2.4 for descriptors), not by the code under test.
"""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

import pytest

from checks.windows import _gpo, _sd
from grader import i18n_checks

DATA = Path(__file__).parent / "data" / "gpo"
GG_COMPTA = "S-1-5-21-2024001512-1505681119-3730347374-1106"
KEY = r"Software\Microsoft\Windows\CurrentVersion\Policies\System"


# --- a PReg encoder (MS-GPREG 2.1), independent of the parser ---------------------------------


def pol_record(key: str, value: str, kind: int, data: bytes) -> bytes:
    u = lambda s: s.encode("utf-16le")
    return (u("[") + u(key) + b"\0\0" + u(";") + u(value) + b"\0\0" + u(";") + struct.pack("<I", kind) + u(";")
            + struct.pack("<I", len(data)) + u(";") + data + u("]"))


def sz(text: str) -> bytes:
    return (text + "\0").encode("utf-16le")


def pol(*records: bytes) -> bytes:
    return b"PReg" + struct.pack("<I", 1) + b"".join(records)


# --- Registry.pol -------------------------------------------------------------------------------


def test_registry_pol_written_by_samba():
    records = _gpo.parse_registry_pol((DATA / "samba-user-registry.pol").read_bytes())
    assert [(r.key, r.value, r.type_name, r.data) for r in records] == [
        (KEY, "Wallpaper", "REG_SZ", r"\\dc\partage\fond.jpg"),
        (KEY, "WallpaperStyle", "REG_SZ", "2"),
    ]
    assert str(records[0].shown()) == KEY + r"\Wallpaper = REG_SZ « \\dc\partage\fond.jpg »"
    assert i18n_checks.say(records[0].shown(), "", "en") == KEY + '\\Wallpaper = REG_SZ "\\\\dc\\partage\\fond.jpg"'


def test_every_data_type_is_decoded():
    raw = pol(pol_record(KEY, "Dword", 4, struct.pack("<I", 300)),
              pol_record(KEY, "Qword", 11, struct.pack("<Q", 2**40)),
              pol_record(KEY, "Multi", 7, "a\0bé\0\0".encode("utf-16le")),
              pol_record(KEY, "Expand", 2, sz("%SystemRoot%\\web")),
              pol_record(KEY, "Bin", 3, b"\x01\xff"),
              pol_record(KEY, "", 1, sz("valeur par défaut")))
    got = {r.value: (r.type_name, r.data) for r in _gpo.parse_registry_pol(raw)}
    assert got == {"Dword": ("REG_DWORD", 300), "Qword": ("REG_QWORD", 2**40), "Multi": ("REG_MULTI_SZ", ["a", "bé"]),
                   "Expand": ("REG_EXPAND_SZ", "%SystemRoot%\\web"), "Bin": ("REG_BINARY", "01ff"),
                   "": ("REG_SZ", "valeur par défaut")}


def test_deletion_instructions_are_applied_in_order():
    raw = pol(pol_record(KEY, "Wallpaper", 1, sz("a.jpg")),
              pol_record(KEY, "**del.Wallpaper", 1, sz(" ")),
              pol_record(KEY, "WallpaperStyle", 1, sz("2")),
              pol_record(KEY.upper(), "NoDispCPL", 4, struct.pack("<I", 1)))
    records = _gpo.parse_registry_pol(raw)
    values = _gpo.effective_values(records, KEY)
    assert sorted(values) == ["nodispcpl", "wallpaperstyle"]  # keys compared without regard to case
    assert _gpo.deletions(records, KEY, "wallpaper")
    raw2 = pol(pol_record(KEY, "Wallpaper", 1, sz("a.jpg")), pol_record(KEY, "**delvals.", 1, sz(" ")))
    assert _gpo.effective_values(_gpo.parse_registry_pol(raw2), KEY) == {}
    raw3 = pol(pol_record(KEY, "**del.Wallpaper", 1, sz(" ")), pol_record(KEY, "Wallpaper", 1, sz("b.jpg")))
    assert _gpo.effective_values(_gpo.parse_registry_pol(raw3), KEY)["wallpaper"].data == "b.jpg"


def test_empty_file_sets_nothing():
    assert _gpo.parse_registry_pol(b"") == []
    assert _gpo.parse_registry_pol(pol()) == []


@pytest.mark.parametrize("raw, why", [
    (b"REGF\x01\0\0\0", "PReg"),
    (b"PReg\x02\0\0\0", "version 2"),
    (pol(pol_record(KEY, "A", 1, sz("x")))[:-2], "attendu"),  # missing ']'
    (pol(pol_record(KEY, "A", 1, sz("x")))[:-6], "trop court"),  # data shorter than announced
    (b"PReg\x01\0\0\0" + "[abc".encode("utf-16le"), "sans fin"),
    (b"PReg\x01\0\0\0" + b"x", "attendu"),
])
def test_malformed_registry_pol_is_refused(raw, why):
    with pytest.raises(ValueError, match=why):
        _gpo.parse_registry_pol(raw)


# --- GptTmpl.inf ----------------------------------------------------------------------------------

# The layout secedit writes (UTF-16LE with a BOM), as in the GptTmpl.inf of a Windows Default Domain Policy.
WINDOWS_INF = (
    "[Unicode]\r\nUnicode=yes\r\n[System Access]\r\nMinimumPasswordAge = 1\r\nMaximumPasswordAge = 42\r\n"
    "MinimumPasswordLength = 12\r\nPasswordComplexity = 1\r\nLockoutBadCount = 5\r\n[Kerberos Policy]\r\n"
    "MaxTicketAge = 10\r\n[Privilege Rights]\r\nSeRemoteInteractiveLogonRight = *S-1-5-32-544,*S-1-5-32-555\r\n"
    "[Registry Values]\r\nMACHINE\\System\\CurrentControlSet\\Control\\Lsa\\NoLMHash=4,1\r\n"
    "[Version]\r\nsignature=\"$CHICAGO$\"\r\nRevision=1\r\n"
)


def test_gpttmpl_written_by_samba_in_utf8():
    sections = _gpo.parse_inf((DATA / "samba-gpttmpl.inf").read_bytes())
    assert sections == {"system access": {"minimumpasswordlength": ("MinimumPasswordLength", "12")}}


def test_gpttmpl_as_windows_writes_it():
    raw = b"\xff\xfe" + WINDOWS_INF.encode("utf-16le")
    sections = _gpo.parse_inf(raw)
    assert sections["system access"]["minimumpasswordlength"] == ("MinimumPasswordLength", "12")
    assert sections["version"]["signature"][1] == '"$CHICAGO$"'
    assert sections["registry values"][r"machine\system\currentcontrolset\control\lsa\nolmhash"][1] == "4,1"
    assert _gpo.parse_inf(WINDOWS_INF.encode("utf-16le")) == sections  # BOM-less UTF-16 too


def test_setting_comparison():
    assert _gpo.same_setting("System Access", 12, " 12 ")
    assert not _gpo.same_setting("System Access", 12, "7")
    assert _gpo.same_setting("System Access", "0x0C", "12")
    assert _gpo.same_setting("Version", "$CHICAGO$", '"$CHICAGO$"')
    rights = "*S-1-5-32-544,*S-1-5-32-555"
    assert _gpo.same_setting("Privilege Rights", ["*s-1-5-32-555", "*S-1-5-32-544"], rights)  # a set, case ignored
    assert not _gpo.same_setting("Privilege Rights", ["*S-1-5-32-544"], rights)  # one more holder is not the same


@pytest.mark.parametrize("raw", [b"MinimumPasswordLength = 12\n", b"[System Access]\nnot a setting\n",
                                 b"\xff\xfe" + b"\x00\xd8"])
def test_malformed_gpttmpl_is_refused(raw):
    with pytest.raises(ValueError):
        _gpo.parse_inf(raw)


# --- security descriptors (MS-DTYP 2.4), an encoder independent of the parser --------------------


def sid_bytes(sid: str) -> bytes:
    parts = sid.split("-")
    subs = [int(x) for x in parts[3:]]
    return bytes([int(parts[1]), len(subs)]) + int(parts[2]).to_bytes(6, "big") + struct.pack(f"<{len(subs)}I", *subs)


def ace(kind: int, flags: int, mask: int, sid: str, object_type: str | None = None,
        inherited: str | None = None) -> bytes:
    body = struct.pack("<I", mask)
    if kind in (5, 6):
        present = (1 if object_type else 0) | (2 if inherited else 0)
        body += struct.pack("<I", present)
        body += uuid.UUID(object_type).bytes_le if object_type else b""
        body += uuid.UUID(inherited).bytes_le if inherited else b""
    body += sid_bytes(sid)
    return struct.pack("<BBH", kind, flags, 4 + len(body)) + body


def descriptor(*aces: bytes, dacl: bool = True) -> bytes:
    acl = b"".join(aces)
    acl = struct.pack("<BBHHH", 4, 0, 8 + len(acl), len(aces), 0) + acl
    control = 0x8004 if dacl else 0x8000
    return struct.pack("<BBHIIII", 1, 0, control, 0, 0, 0, 20 if dacl else 0) + (acl if dacl else b"")


RESET, USER = "00299570-246d-11d0-a768-00aa006e0529", "bf967aba-0de6-11d0-a285-00aa003049e2"


def test_descriptor_read_from_samba():
    aces = _sd.parse_descriptor((DATA / "samba-ou-comptabilite.sd").read_bytes())
    assert aces is not None and len(aces) > 10  # Samba's default OU ACEs plus the delegation
    mine = [a for a in aces if a.sid == GG_COMPTA]
    assert {(a.type, a.flags, a.mask, a.object_type, a.inherited_object_type) for a in mine} == {
        (_sd.ALLOWED_OBJECT, 0x0A, 0x100, RESET, USER),
        (_sd.ALLOWED_OBJECT, 0x0A, 0x30, "bf967a0a-0de6-11d0-a285-00aa003049e2", USER),
    }
    shown = next(a for a in mine if a.mask == 0x100).shown()
    assert "Réinitialiser le mot de passe" in shown and "objets Utilisateur descendants" in shown
    assert any(a.sid == "S-1-5-11" for a in aces)  # Authenticated Users may read the OU


def test_crafted_descriptor_round_trip():
    raw = descriptor(ace(1, 0, 0x10000000, "S-1-5-21-1-2-3-1107"), ace(5, 0x0A, 0x100, GG_COMPTA, RESET, USER),
                     ace(0, 0x12, 0xF01FF, "S-1-1-0"))
    aces = _sd.parse_descriptor(raw)
    assert [(a.type, a.sid) for a in aces] == [(1, "S-1-5-21-1-2-3-1107"), (5, GG_COMPTA), (0, "S-1-1-0")]
    assert aces[0].deny and aces[0].effective_mask & 0xF01FF == 0xF01FF
    assert aces[2].inherited and aces[2].shown().startswith("autoriser · contrôle total")
    assert _sd.parse_descriptor(descriptor(dacl=False)) is None


@pytest.mark.parametrize("raw", [
    b"\x01\x00",
    struct.pack("<BBHIIII", 2, 0, 0x8004, 0, 0, 0, 20),
    struct.pack("<BBHIIII", 1, 0, 0x8004, 0, 0, 0, 200),
    descriptor(ace(0, 0, 1, "S-1-1-0"))[:-3],
])
def test_malformed_descriptor_is_refused(raw):
    with pytest.raises(ValueError):
        _sd.parse_descriptor(raw)
