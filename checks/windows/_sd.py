"""Self-relative security descriptors (MS-DTYP 2.4.6) and their ACEs, as AD stores ``nTSecurityDescriptor``.

A small struct parser rather than a library: ``winacl`` (the pure-Python option on PyPI) reads
binary descriptors but its SDDL side misreads rights (``CCDC`` became mask 0xccdc when tried
here), and impacket is a large offensive toolkit pulled in for one structure. The binary
layout is short and fixed: header, then an ACL of ACEs, each ``type, flags, size`` followed
by a mask, for object ACEs a presence flag and up to two GUIDs, then the trustee's SID.
Only the DACL is read (the grader asks the DC for the DACL alone, see the LDAP SD_FLAGS control).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from checks._common.text import commas
from grader.model import Msg
from grader.probes.ldap import sid_to_str

# ACE types (MS-DTYP 2.4.4.1)
ALLOWED, DENIED, ALLOWED_OBJECT, DENIED_OBJECT = 0x00, 0x01, 0x05, 0x06
ALLOWED_CALLBACK, DENIED_CALLBACK, ALLOWED_CALLBACK_OBJECT, DENIED_CALLBACK_OBJECT = 0x09, 0x0A, 0x0B, 0x0C
ALLOW_TYPES = (ALLOWED, ALLOWED_OBJECT, ALLOWED_CALLBACK, ALLOWED_CALLBACK_OBJECT)
DENY_TYPES = (DENIED, DENIED_OBJECT, DENIED_CALLBACK, DENIED_CALLBACK_OBJECT)
OBJECT_TYPES = (ALLOWED_OBJECT, DENIED_OBJECT, ALLOWED_CALLBACK_OBJECT, DENIED_CALLBACK_OBJECT, 0x07, 0x08, 0x0F)
# ACE flags
OBJECT_INHERIT, CONTAINER_INHERIT, NO_PROPAGATE, INHERIT_ONLY, INHERITED = 0x01, 0x02, 0x04, 0x08, 0x10
# Directory-service access rights (MS-ADTS 5.1.3.2)
CREATE_CHILD, DELETE_CHILD, LIST, SELF_WRITE, READ_PROP, WRITE_PROP, DELETE_TREE, LIST_OBJECT, CONTROL_ACCESS = (
    0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80, 0x100)
DELETE, READ_CONTROL, WRITE_DAC, WRITE_OWNER = 0x10000, 0x20000, 0x40000, 0x80000
GENERIC_ALL, GENERIC_EXECUTE, GENERIC_WRITE, GENERIC_READ = 0x10000000, 0x20000000, 0x40000000, 0x80000000
FULL_CONTROL = 0xF01FF  # what GENERIC_ALL maps to on a directory object
SE_DACL_PRESENT = 0x0004
#: The rights as the Advanced Security dialog names them (a Msg: its ``str`` is the French name).
_RIGHTS = ((FULL_CONTROL, Msg("contrôle total")), (CREATE_CHILD, Msg("créer")),
           (DELETE_CHILD, Msg("supprimer des enfants")), (LIST, Msg("lister")), (SELF_WRITE, Msg("écriture validée")),
           (READ_PROP, Msg("lire")), (WRITE_PROP, Msg("écrire")), (DELETE_TREE, Msg("supprimer l'arborescence")),
           (LIST_OBJECT, Msg("lister l'objet")), (CONTROL_ACCESS, Msg("droit étendu")), (DELETE, Msg("supprimer")),
           (READ_CONTROL, Msg("lire les permissions")), (WRITE_DAC, Msg("modifier les permissions")),
           (WRITE_OWNER, Msg("changer le propriétaire")))

#: GUIDs a jury meets in delegations (schema classes, attributes, extended rights), named in French (a Msg each).
KNOWN_GUIDS: dict[str, Msg] = {
    "00299570-246d-11d0-a768-00aa006e0529": Msg("Réinitialiser le mot de passe"),
    "ab721a53-1e2f-11d0-9819-00aa0040529b": Msg("Modifier le mot de passe"),
    "bf967aba-0de6-11d0-a285-00aa003049e2": Msg("objets Utilisateur"),
    "bf967a9c-0de6-11d0-a285-00aa003049e2": Msg("objets Groupe"),
    "bf967a86-0de6-11d0-a285-00aa003049e2": Msg("objets Ordinateur"),
    "bf967aa5-0de6-11d0-a285-00aa003049e2": Msg("objets Unité d'organisation"),
    "bf9679c0-0de6-11d0-a285-00aa003049e2": Msg("attribut member"),
    "bf967a0a-0de6-11d0-a285-00aa003049e2": Msg("attribut pwdLastSet"),
    "28630ebf-41d5-11d1-a9c1-0000f80367c1": Msg("attribut lockoutTime"),
    "4c164200-20c0-11d0-a768-00aa006e0529": Msg("informations de compte"),
}


@dataclass(frozen=True)
class Ace:
    """One ACE of a DACL, as the judge needs it."""

    type: int
    flags: int
    mask: int
    sid: str
    object_type: str | None = None  # lower-case GUID: the class, attribute or extended right the ACE is limited to
    inherited_object_type: str | None = None  # lower-case GUID: the class of objects that inherit it

    @property
    def allow(self) -> bool:
        return self.type in ALLOW_TYPES

    @property
    def deny(self) -> bool:
        return self.type in DENY_TYPES

    @property
    def inherited(self) -> bool:
        return bool(self.flags & INHERITED)

    @property
    def effective_mask(self) -> int:
        return self.mask | FULL_CONTROL if self.mask & GENERIC_ALL else self.mask

    def shown(self) -> str:
        """A readable line for the jury: ``autoriser · droit étendu (Réinitialiser le mot de passe) · …``."""
        return str(self.said())

    def said(self) -> Msg:
        """:meth:`shown` by reference (said in the report's language)."""
        kind = Msg("autoriser") if self.allow else Msg("refuser") if self.deny else f"type {self.type:#x}"
        values = {"kind": kind, "rights": rights_text(self.effective_mask),
                  "scope": scope_text(self.flags, self.inherited_object_type),
                  "inherited": Msg(" · héritée du parent") if self.inherited else "",
                  "mask": f"{self.mask:#x}", "flags": f"{self.flags:#x}"}
        if self.object_type:
            return Msg("{kind} · {rights} ({object}) · {scope}{inherited} [masque {mask}, indicateurs {flags}]",
                       object=guid_name(self.object_type), **values)
        return Msg("{kind} · {rights} · {scope}{inherited} [masque {mask}, indicateurs {flags}]", **values)


def guid_name(guid: str) -> str | Msg:
    return KNOWN_GUIDS.get(guid.lower(), guid)


def rights_text(mask: int) -> str | Msg:
    if mask & FULL_CONTROL == FULL_CONTROL:
        return _RIGHTS[0][1]
    names = [name for bit, name in _RIGHTS[1:] if mask & bit]
    return commas(names) if names else f"{mask:#x}"  # « créer, supprimer des enfants » in French


def scope_text(flags: int, inherited_object_type: str | None) -> Msg:
    """Where the ACE applies, as the Advanced Security dialog says it."""
    if not flags & (CONTAINER_INHERIT | OBJECT_INHERIT):
        return Msg("cet objet seulement")
    target = (Msg("les {name} descendants", name=guid_name(inherited_object_type)) if inherited_object_type
              else Msg("les objets descendants"))
    direct = bool(flags & NO_PROPAGATE)
    if flags & INHERIT_ONLY:
        return Msg("{target} (enfants directs)", target=target) if direct else target
    return (Msg("cet objet et {target} (enfants directs)", target=target) if direct
            else Msg("cet objet et {target}", target=target))


def parse_descriptor(raw: bytes) -> list[Ace] | None:
    """The DACL of a self-relative security descriptor; None when the descriptor has no DACL.

    Raises ValueError (French) on a malformed descriptor.
    """
    if len(raw) < 20:
        raise ValueError("descripteur de sécurité trop court")
    revision, _, control, _owner, _group, _sacl, dacl = struct.unpack_from("<BBHIIII", raw, 0)
    if revision != 1:
        raise ValueError(f"révision {revision} de descripteur inconnue")
    if not control & SE_DACL_PRESENT or dacl == 0:
        return None
    return parse_acl(raw, dacl)


def parse_acl(raw: bytes, offset: int) -> list[Ace]:
    if offset + 8 > len(raw):
        raise ValueError("ACL hors du descripteur")
    _rev, _, size, count, _ = struct.unpack_from("<BBHHH", raw, offset)
    end = offset + size
    if end > len(raw):
        raise ValueError("ACL plus longue que le descripteur")
    aces: list[Ace] = []
    pos = offset + 8
    for i in range(count):
        if pos + 4 > end:
            raise ValueError(f"ACE {i + 1}/{count} hors de l'ACL")
        kind, flags, ace_size = struct.unpack_from("<BBH", raw, pos)
        if ace_size < 8 or pos + ace_size > end:
            raise ValueError(f"ACE {i + 1}/{count} de taille invalide ({ace_size})")
        body = raw[pos + 4:pos + ace_size]
        aces.append(_ace(kind, flags, body, i + 1))
        pos += ace_size
    return aces


def _ace(kind: int, flags: int, body: bytes, number: int) -> Ace:
    (mask,) = struct.unpack_from("<I", body, 0)
    pos = 4
    object_type = inherited = None
    if kind in OBJECT_TYPES:
        if len(body) < 8:
            raise ValueError(f"ACE {number} objet tronquée")
        (present,) = struct.unpack_from("<I", body, 4)
        pos = 8
        if present & 1:
            object_type = str(uuid.UUID(bytes_le=bytes(body[pos:pos + 16])))
            pos += 16
        if present & 2:
            inherited = str(uuid.UUID(bytes_le=bytes(body[pos:pos + 16])))
            pos += 16
    if pos + 8 > len(body):
        raise ValueError(f"ACE {number} sans SID complet")
    count = body[pos + 1]
    sid_len = 8 + 4 * count
    if pos + sid_len > len(body):
        raise ValueError(f"ACE {number} : SID tronqué")
    return Ace(kind, flags, mask, sid_to_str(bytes(body[pos:pos + sid_len])), object_type, inherited)
