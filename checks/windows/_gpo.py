"""Parsers of a GPO's files in SYSVOL: ``Registry.pol`` (PReg) and ``GptTmpl.inf`` (security template).

No well-kept PyPI library reads either format (Samba has one in its own Python bindings, which
are not on PyPI and need the C library), so these are small parsers written from the format
descriptions, with tests on files written by Samba itself in the lab.

Registry.pol (MS-GPREG 2.1, "Registry Policy File Format"): the 4 bytes ``PReg``, a 32-bit
little-endian version (1), then records ``[key;value;type;size;data]`` in which the brackets
and semicolons are UTF-16LE characters, ``key`` and ``value`` NUL-terminated UTF-16LE strings,
``type`` and ``size`` 32-bit little-endian integers and ``data`` ``size`` raw bytes. Value
names starting with ``**`` are instructions (``**del.Name`` deletes a value, ``**delvals.``
all values of the key): :func:`effective_values` applies them as the client does, in order.

GptTmpl.inf: an INI file, UTF-16LE with a BOM as Windows writes it (Samba's ``samba-tool gpo
manage security`` writes UTF-8): sections ``[System Access]``, ``[Privilege Rights]``,
``[Registry Values]``…, lines ``Name = value``; names are compared without regard to case.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from grader.model import Msg

PREG_SIGNATURE = b"PReg"
PREG_VERSION = 1
REG_TYPES: dict[int, str] = {0: "REG_NONE", 1: "REG_SZ", 2: "REG_EXPAND_SZ", 3: "REG_BINARY", 4: "REG_DWORD",
                             5: "REG_DWORD_BIG_ENDIAN", 6: "REG_LINK", 7: "REG_MULTI_SZ", 11: "REG_QWORD"}
_OPEN, _SEMI, _CLOSE = "[".encode("utf-16le"), ";".encode("utf-16le"), "]".encode("utf-16le")


@dataclass(frozen=True)
class PolRecord:
    """One record of a Registry.pol, its data decoded according to its type."""

    key: str
    value: str
    type: int
    data: Any  # str (SZ, EXPAND_SZ), int (DWORD, QWORD), list[str] (MULTI_SZ), hex str (others)

    @property
    def type_name(self) -> str:
        return REG_TYPES.get(self.type, f"type {self.type}")

    def shown(self) -> str | Msg:
        """How the jury reads it: ``HKCU\\…\\System\\Wallpaper = REG_SZ « \\\\dc\\partage\\fond.jpg »``."""
        data = show_data(self.data)
        if isinstance(data, Msg):  # the quotes are the report language's
            return Msg("{key}\\{value} = {type} {data}", key=self.key, value=self.value, type=self.type_name, data=data)
        return f"{self.key}\\{self.value} = {self.type_name} {data}"


def show_data(data: Any) -> str | Msg:
    """A value as the evidence quotes it: « text » in French, "text" in English; lists and numbers as written."""
    if isinstance(data, str):
        return Msg("« {value} »", value=data)
    if isinstance(data, list):
        return "[" + ", ".join(f"« {d} »" for d in data) + "]"
    return str(data)


def parse_registry_pol(raw: bytes) -> list[PolRecord]:
    """Every record of a Registry.pol, in file order. Raises ValueError (French) when the file is not one.

    An empty file (0 bytes) has no records: the policy sets nothing.
    """
    if not raw:
        return []
    if len(raw) < 8 or raw[:4] != PREG_SIGNATURE:
        raise ValueError("signature « PReg » absente : ce n'est pas un fichier Registry.pol")
    (version,) = struct.unpack_from("<I", raw, 4)
    if version != PREG_VERSION:
        raise ValueError(f"version {version} de Registry.pol inconnue (1 attendue)")
    records: list[PolRecord] = []
    pos = 8
    while pos < len(raw):
        start = pos
        pos = _expect(raw, pos, _OPEN, start)
        key, pos = _string(raw, pos, start)
        pos = _expect(raw, pos, _SEMI, start)
        value, pos = _string(raw, pos, start)
        pos = _expect(raw, pos, _SEMI, start)
        kind, pos = _u32(raw, pos, start)
        pos = _expect(raw, pos, _SEMI, start)
        size, pos = _u32(raw, pos, start)
        pos = _expect(raw, pos, _SEMI, start)
        if pos + size > len(raw):
            raise ValueError(f"enregistrement à l'octet {start} : {size} octets de données annoncés, fichier trop court")
        data = raw[pos:pos + size]
        pos = _expect(raw, pos + size, _CLOSE, start)
        records.append(PolRecord(key, value, kind, decode_data(kind, data)))
    return records


def _expect(raw: bytes, pos: int, token: bytes, start: int) -> int:
    if raw[pos:pos + 2] != token:
        raise ValueError(f"enregistrement à l'octet {start} : « {token.decode('utf-16le')} » attendu à l'octet {pos}")
    return pos + 2


def _string(raw: bytes, pos: int, start: int) -> tuple[str, int]:
    """A NUL-terminated UTF-16LE string at ``pos`` (2-byte aligned search for the NUL)."""
    end = pos
    while end + 1 < len(raw) and raw[end:end + 2] != b"\0\0":
        end += 2
    if end + 1 >= len(raw):
        raise ValueError(f"enregistrement à l'octet {start} : chaîne sans fin")
    try:
        text = raw[pos:end].decode("utf-16le")
    except UnicodeDecodeError as exc:
        raise ValueError(f"enregistrement à l'octet {start} : chaîne UTF-16 invalide") from exc
    return text, end + 2


def _u32(raw: bytes, pos: int, start: int) -> tuple[int, int]:
    if pos + 4 > len(raw):
        raise ValueError(f"enregistrement à l'octet {start} : entier tronqué")
    return struct.unpack_from("<I", raw, pos)[0], pos + 4


def decode_data(kind: int, data: bytes) -> Any:
    """Registry data as a judge compares it (strings without their terminating NULs)."""
    if kind in (1, 2, 6):
        return _utf16(data).rstrip("\0")
    if kind == 7:
        text = _utf16(data)
        return [s for s in text.rstrip("\0").split("\0")] if text.strip("\0") else []
    if kind == 4 and len(data) == 4:
        return struct.unpack("<I", data)[0]
    if kind == 5 and len(data) == 4:
        return struct.unpack(">I", data)[0]
    if kind == 11 and len(data) == 8:
        return struct.unpack("<Q", data)[0]
    return data.hex()


def _utf16(data: bytes) -> str:
    return data[:len(data) - len(data) % 2].decode("utf-16le", errors="replace")


def effective_values(records: list[PolRecord], key: str) -> dict[str, PolRecord]:
    """The values a client ends with under ``key`` (case-insensitive), instructions applied in file order.

    Keyed by the lower-cased value name. ``**del.Name`` removes a value, ``**delvals.`` every
    value of the key; other ``**`` instructions (``**soft.``, ``**SecureKey``…) set nothing.
    """
    wanted = key.lower().strip("\\")
    out: dict[str, PolRecord] = {}
    for r in records:
        if r.key.lower().strip("\\") != wanted:
            continue
        name = r.value
        low = name.lower()
        if low.startswith("**del."):
            out.pop(low[len("**del."):], None)
        elif low == "**delvals.":
            out.clear()
        elif low.startswith("**"):
            continue
        else:
            out[low] = r
    return out


def deletions(records: list[PolRecord], key: str, value: str) -> list[PolRecord]:
    """``**del.`` / ``**delvals.`` instructions aimed at one value (the policy set to « Désactivé » deletes)."""
    wanted, name = key.lower().strip("\\"), value.lower()
    return [r for r in records if r.key.lower().strip("\\") == wanted
            and r.value.lower() in (f"**del.{name}", "**delvals.")]


# --- GptTmpl.inf ---------------------------------------------------------------------------------


def decode_inf(raw: bytes) -> str:
    """The text of a security template: UTF-16 with a BOM (Windows), else UTF-8 (Samba) or BOM-less UTF-16LE."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    if len(raw) >= 2 and raw[1:2] == b"\0":
        return raw.decode("utf-16le")
    return raw.decode("utf-8")


def parse_inf(raw: bytes) -> dict[str, dict[str, tuple[str, str]]]:
    """Sections of a GptTmpl.inf: ``{section.lower(): {name.lower(): (name, value)}}``.

    Raises ValueError (French) when the text cannot be decoded or a line is neither a section,
    a comment nor ``name = value``. A name written twice keeps its last value, as secedit does.
    """
    try:
        text = decode_inf(raw)
    except UnicodeDecodeError as exc:
        raise ValueError("GptTmpl.inf : encodage illisible (ni UTF-16 ni UTF-8)") from exc
    sections: dict[str, dict[str, tuple[str, str]]] = {}
    current: dict[str, tuple[str, str]] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip().lstrip("\ufeff")
        if not line or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip().lower(), {})
            continue
        if current is None or "=" not in line:
            raise ValueError(f"GptTmpl.inf ligne {number} : « {line[:80]} » n'est ni une section ni « nom = valeur »")
        name, value = line.split("=", 1)
        current[name.strip().lower()] = (name.strip(), value.strip())
    return sections


#: Accounts every Windows has, by SID, with the names a rubric may give them (English and French
#: Windows display them in the system's language; ``BUILTIN\\`` / ``AUTORITE NT\\`` prefixes are dropped).
WELL_KNOWN_SIDS: dict[str, tuple[str, ...]] = {
    "S-1-1-0": ("Everyone", "Tout le monde"),
    "S-1-5-9": ("Enterprise Domain Controllers", "Contrôleurs de domaine d'entreprise"),
    "S-1-5-11": ("Authenticated Users", "Utilisateurs authentifiés"),
    "S-1-5-18": ("SYSTEM", "Système"),
    "S-1-5-19": ("LOCAL SERVICE", "SERVICE LOCAL"),
    "S-1-5-20": ("NETWORK SERVICE", "SERVICE RÉSEAU"),
    "S-1-5-32-544": ("Administrators", "Administrateurs"),
    "S-1-5-32-545": ("Users", "Utilisateurs"),
    "S-1-5-32-546": ("Guests", "Invités"),
    "S-1-5-32-547": ("Power Users", "Utilisateurs avec pouvoir"),
    "S-1-5-32-548": ("Account Operators", "Opérateurs de compte"),
    "S-1-5-32-549": ("Server Operators", "Opérateurs de serveur"),
    "S-1-5-32-550": ("Print Operators", "Opérateurs d'impression"),
    "S-1-5-32-551": ("Backup Operators", "Opérateurs de sauvegarde"),
    "S-1-5-32-554": ("Pre-Windows 2000 Compatible Access", "Accès compatible pré-Windows 2000"),
    "S-1-5-32-555": ("Remote Desktop Users", "Utilisateurs du Bureau à distance"),
}
#: The domain's own accounts, by RID under the domain's SID.
DOMAIN_RIDS: dict[int, tuple[str, ...]] = {
    500: ("Administrator", "Administrateur"),
    512: ("Domain Admins", "Admins du domaine"),
    513: ("Domain Users", "Utilisateurs du domaine"),
    514: ("Domain Guests", "Invités du domaine"),
    515: ("Domain Computers", "Ordinateurs du domaine"),
    516: ("Domain Controllers", "Contrôleurs de domaine"),
    518: ("Schema Admins", "Administrateurs du schéma"),
    519: ("Enterprise Admins", "Administrateurs de l'entreprise"),
}


def name_key(name: str) -> str:
    """A name as compared: case, typographic apostrophes and a ``DOMAINE\\`` prefix ignored."""
    return name.strip().strip('"').replace("\u2019", "'").rpartition("\\")[2].strip().casefold()


class Holders:
    """Who holds a right, as SIDs: what a ``[Privilege Rights]`` line and a rubric name the same way.

    GptTmpl.inf names holders ``*S-1-5-32-555`` (a SID), or by name when the editor could not
    resolve it; a rubric names them by SID or by name (« Utilisateurs du Bureau à distance »,
    ``GG_Compta``). Names are resolved with the directory the ``ldap`` channel read (its
    sAMAccountName and objectSid), then the well-known accounts in English and French; a name
    found nowhere stays a name (compared as written).
    """

    def __init__(self, directory: dict[str, str] | None = None) -> None:
        """``directory``: sAMAccountName -> objectSid, as the domain controller lists them."""
        self.directory = {name_key(k): v.upper() for k, v in (directory or {}).items()}
        self.names = {v.upper(): k for k, v in sorted((directory or {}).items(), reverse=True)}
        self.domain = next((sid.rpartition("-")[0] for sid in self.directory.values()
                            if sid.startswith("S-1-5-21-") and sid.count("-") == 7), None)
        self._written: dict[str, str] = {}  # name key -> as first written

    def key(self, holder: str) -> str:
        """``S-…`` when the holder is known, else ``name:<name as compared>``."""
        text = holder.strip().strip('"').lstrip("*")
        if text.upper().startswith("S-1-"):
            return text.upper()
        name = name_key(text)
        self._written.setdefault("name:" + name, text)
        if name in self.directory:
            return self.directory[name]
        for sid, aliases in WELL_KNOWN_SIDS.items():
            if name in (name_key(a) for a in aliases):
                return sid
        for rid, aliases in DOMAIN_RIDS.items():
            if self.domain is not None and name in (name_key(a) for a in aliases):
                return f"{self.domain}-{rid}"
        return "name:" + name

    def keys(self, holders: Any) -> set[str]:
        items = holders if isinstance(holders, list) else str(holders).split(",")
        return {self.key(h) for h in items if h.strip()}

    def shown(self, key: str) -> str:
        """A key as the jury reads it: the SID with its name when known (« S-1-5-32-555 Remote Desktop Users »)."""
        if key.startswith("name:"):
            return self._written.get(key, key[5:])
        name = self.names.get(key) or next((a[0] for s, a in WELL_KNOWN_SIDS.items() if s == key), None)
        if name is None and self.domain is not None and key.startswith(self.domain + "-"):
            rid = int(key.rpartition("-")[2]) if key.rpartition("-")[2].isdigit() else -1
            name = DOMAIN_RIDS.get(rid, (None,))[0]
        return f"{key} ({name})" if name else key

    def unresolved(self, keys: set[str]) -> list[str]:
        """The names of ``keys`` found neither in the directory nor among the well-known accounts."""
        return sorted(self.shown(k) for k in keys if k.startswith("name:"))


def same_setting(section: str, expected: Any, actual: str, holders: Holders | None = None) -> bool:
    """Whether a template value is the one asked: numbers as numbers, quotes ignored, rights as sets of holders."""
    if section.lower() == "privilege rights":
        holders = holders or Holders()
        return holders.keys(expected) == holders.keys(actual)
    if isinstance(expected, list):
        return [e.strip() for e in expected] == [a.strip() for a in actual.split(",")]
    want_text, got_text = str(expected).strip().strip('"'), actual.strip().strip('"')
    want_int, got_int = as_int(want_text), as_int(got_text)
    if want_int is not None and got_int is not None:
        return want_int == got_int
    return want_text == got_text


def as_int(text: Any) -> int | None:
    """``12``, ``-1`` or ``0x1F`` as an integer; None for anything else."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text
    value = str(text).strip()
    try:
        return int(value, 16) if value.lower().startswith("0x") else int(value, 10)
    except ValueError:
        return None
