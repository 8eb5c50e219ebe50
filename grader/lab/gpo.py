"""Planting GPO settings and OU delegations on a lab Samba DC, the way the Windows tools leave them.

Samba 4.17 (bookworm) has no ``samba-tool gpo load`` for registry policies, so
:func:`set_registry_policy` does what the Group Policy Management Editor does: it writes the
value into the GPO's ``Registry.pol`` in SYSVOL over SMB (as Administrator, with Samba's own
``preg`` NDR marshalling, so the file is Samba's, not the grader's parser's mirror image),
raises the version in ``GPT.INI`` and in the groupPolicyContainer's ``versionNumber`` (user
part: high 16 bits, computer part: low 16 bits) and records the registry client-side
extension in ``gPCUserExtensionNames`` / ``gPCMachineExtensionNames``. Security settings go
through ``samba-tool gpo manage security set`` (GptTmpl.inf); user rights, which it does not
know, are written into GptTmpl.inf over SMB as the editor writes them. A delegation is an ACE added
to the OU with ``samba-tool dsacl set --sddl``, the ACE the « Délégation de contrôle »
wizard writes, for the group's SID. Drive maps (Group Policy Preferences) are the editor's
``User/Preferences/Drives/Drives.xml``, written over SMB the same way (:func:`set_drive_maps`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.errors import LabError
from grader.lab import samba

#: Registry client-side extension + its administrative-templates tool, as GPMC writes them.
REGISTRY_CSE = "[{35378EAC-683F-11D2-A89A-0000F8757B58}{0F6B957E-509E-11D1-A7CC-0000F87571E3}]"
#: The ACEs the delegation wizard writes, by task; ``{sid}`` is the trustee group's SID.
DELEGATION_SDDL = {
    # « Réinitialiser les mots de passe utilisateur et forcer leur changement à la prochaine ouverture de session »
    "reset_password": "(OA;CIIO;CR;00299570-246d-11d0-a768-00aa006e0529;bf967aba-0de6-11d0-a285-00aa003049e2;{sid})"
                      "(OA;CIIO;RPWP;bf967a0a-0de6-11d0-a285-00aa003049e2;bf967aba-0de6-11d0-a285-00aa003049e2;{sid})",
    # « Créer, supprimer et gérer les comptes d'utilisateur »
    "manage_users": "(OA;CI;CCDC;bf967aba-0de6-11d0-a285-00aa003049e2;;{sid})"
                    "(OA;CIIO;GA;;bf967aba-0de6-11d0-a285-00aa003049e2;{sid})",
}

# Run inside the booted DC (python3 with Samba's bindings), as root with the Administrator's password:
# argv[1] the GPO's {GUID}, argv[2] the password file, argv[3] the client-side extensions to record;
# the body between them changes the GPO's files over SMB and sets ``step`` and ``part``.
_DC_PRELUDE = r"""
import re, sys
import ldb
from samba import param
from samba.auth import system_session
from samba.credentials import Credentials
from samba.netcmd.gpo import smb_connection
from samba.samdb import SamDB

guid, password_file, cse = sys.argv[1:4]
lp = param.LoadParm()
lp.load_default()
creds = Credentials()
creds.guess(lp)
creds.set_username("Administrator")
creds.set_password(open(password_file).read().strip())
conn = smb_connection("dc." + lp.get("realm").lower(), "sysvol", lp, creds)
folder = lp.get("realm").lower() + "\\Policies\\" + guid
"""
# What the editor does after any change: raise the version in GPT.INI and on the groupPolicyContainer
# (user part: high 16 bits, computer part: low 16 bits) and record the client-side extensions.
_DC_EPILOGUE = r"""
ini = conn.loadfile(folder + "\\GPT.INI").decode("utf-8")
version = int(re.search(r"Version=(\d+)", ini).group(1)) + step
conn.savefile(folder + "\\GPT.INI", re.sub(r"Version=\d+", "Version=%d" % version, ini).encode("utf-8"))
db = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)
dn = "CN=%s,CN=Policies,CN=System,%s" % (guid, db.get_default_basedn())
attr = "gPCMachineExtensionNames" if part == "machine" else "gPCUserExtensionNames"
m = ldb.Message(ldb.Dn(db, dn))
m["versionNumber"] = ldb.MessageElement(str(version), ldb.FLAG_MOD_REPLACE, "versionNumber")
m[attr] = ldb.MessageElement(cse, ldb.FLAG_MOD_REPLACE, attr)
db.modify(m)
print(version)
"""
_WRITE_POL = _DC_PRELUDE + r"""
from samba.dcerpc import misc, preg
from samba.ndr import ndr_pack, ndr_unpack

part, key, value, kind, data = sys.argv[4:9]
pol_path = folder + "\\" + ("Machine" if part == "machine" else "User") + "\\Registry.pol"
try:
    pol = ndr_unpack(preg.file, conn.loadfile(pol_path))
    entries = list(pol.entries)
except Exception:
    pol = preg.file()
    pol.header.signature = "PReg"
    pol.header.version = 1
    entries = []
entry = preg.entry()
entry.keyname = key
entry.valuename = value
entry.type = getattr(misc, kind)
entry.data = int(data) if kind in ("REG_DWORD", "REG_QWORD") else data
entries = [e for e in entries if not (e.keyname.lower() == key.lower() and e.valuename.lower() == value.lower())]
entries.append(entry)
pol.num_entries = len(entries)
pol.entries = entries
conn.savefile(pol_path, ndr_pack(pol))
step = 1 if part == "machine" else 65536
""" + _DC_EPILOGUE


def set_registry_policy(shell: Any, guid: str, key: str, value: str, data: str | int, kind: str = "REG_SZ") -> int:
    """Write one registry policy value into a GPO (``key`` under HKLM\\ or HKCU\\); the GPO's new version."""
    head, _, rest = key.partition("\\")
    part = {"HKLM": "machine", "HKCU": "user"}.get(head.upper())
    if part is None or not rest:
        raise LabError(f"clé de registre sous HKLM\\ ou HKCU\\ attendue : {key}")
    proc = shell.run("/usr/bin/python3", "-c", _WRITE_POL, guid, samba.ADMIN_PASSWORD_FILE, REGISTRY_CSE, part, rest,
                     value, kind, str(data), timeout=120)
    if proc.returncode != 0:
        raise LabError(f"Registry.pol de {guid} : {(proc.stderr or proc.stdout).strip()[-500:]}")
    return int(proc.stdout.strip().splitlines()[-1])


def set_security_setting(shell: Any, guid: str, name: str, value: str | int) -> None:
    """A [System Access] / [Kerberos Policy] setting in the GPO's GptTmpl.inf (``samba-tool gpo manage security``)."""
    samba.samba_tool_online(shell, "gpo", "manage", "security", "set", guid, name, str(value),
                            "-H", f"ldap://{samba.DC_HOSTNAME}.{samba.DNS_DOMAIN}")


#: Security settings client-side extension + its security-templates tool, as GPMC writes them.
SECURITY_CSE = "[{827D319E-6EAC-11D2-A4EA-00C04F79F83A}{803E14A0-B4FB-11D0-A0D0-00A0C90F574B}]"

# GptTmpl.inf written over SMB as Windows' editor writes it (UTF-16LE, BOM); a computer-part change.
_WRITE_INF = _DC_PRELUDE + r"""
text = sys.argv[4]
path = folder
for name in ("Machine", "Microsoft", "Windows NT", "SecEdit"):
    path += "\\" + name
    try:
        conn.mkdir(path)
    except Exception:
        pass  # already there
conn.savefile(path + "\\GptTmpl.inf", b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le"))
step, part = 1, "machine"
""" + _DC_EPILOGUE


def set_privilege_rights(shell: Any, guid: str, rights: dict[str, list[str]]) -> int:
    """User rights in a GPO's GptTmpl.inf (``[Privilege Rights]``, holders as ``*SID``), as the editor writes them.

    ``samba-tool gpo manage security`` knows only [System Access] and [Kerberos Policy]; this
    writes the file the Group Policy Management Editor writes, UTF-16LE with a BOM, over SMB.
    """
    lines = "".join(f"{name} = {','.join(holders)}\n" for name, holders in rights.items())
    text = ("[Unicode]\nUnicode=yes\n[Privilege Rights]\n" + lines +
            '[Version]\nsignature="$CHICAGO$"\nRevision=1\n')
    proc = shell.run("/usr/bin/python3", "-c", _WRITE_INF, guid, samba.ADMIN_PASSWORD_FILE, SECURITY_CSE, text,
                     timeout=120)
    if proc.returncode != 0:
        raise LabError(f"GptTmpl.inf de {guid} : {(proc.stderr or proc.stdout).strip()[-500:]}")
    return int(proc.stdout.strip().splitlines()[-1])


def group_sid(root: Path, group: str) -> str:
    """A group's objectSid, offline (before the DC boots)."""
    out = samba.samba_tool(root, "group", "show", group, "--attributes=objectSid")
    for line in out.splitlines():
        if line.lower().startswith("objectsid:"):
            return line.split(":", 1)[1].strip()
    raise LabError(f"SID du groupe {group} introuvable : {out.strip()[:200]}")


def delegate(root: Path, ou_dn: str, group: str, task: str = "reset_password") -> str:
    """Delegate ``task`` on the OU to the group, offline, as the wizard would; the ACEs added (SDDL)."""
    sddl = DELEGATION_SDDL[task].format(sid=group_sid(root, group))
    samba.samba_tool(root, "dsacl", "set", f"--objectdn={ou_dn}", f"--sddl={sddl}")
    return sddl


def create_gpo(shell: Any, name: str) -> str:
    """Create a GPO inside the running DC (``samba-tool gpo create``); its {GUID}."""
    out = samba.samba_tool_online(shell, "gpo", "create", name, "-H", f"ldap://{samba.DC_HOSTNAME}.{samba.DNS_DOMAIN}")
    guid = next((w for w in out.replace("'", " ").split() if w.startswith("{") and w.endswith("}")), None)
    if guid is None:
        raise LabError(f"GUID de la GPO « {name} » introuvable dans : {out.strip()}")
    return guid


#: Group Policy Preferences Drive Maps client-side extension + its editor tool, as GPMC records them.
DRIVES_CSE = "[{00000000-0000-0000-0000-000000000000}{2EA1A81B-48E5-45E9-8BB7-A6E3AC170006}]" \
             "[{5794DAFD-BE60-433F-88A2-1A31939AC01F}{2EA1A81B-48E5-45E9-8BB7-A6E3AC170006}]"

# Drives.xml written over SMB where the editor writes it (User\Preferences\Drives), a user-part change.
_WRITE_DRIVES = _DC_PRELUDE + r"""
path = folder
for name in ("User", "Preferences", "Drives"):
    path += "\\" + name
    try:
        conn.mkdir(path)
    except Exception:
        pass  # already there
conn.savefile(path + "\\Drives.xml", sys.argv[4].encode("utf-8"))
step, part = 65536, "user"
""" + _DC_EPILOGUE


def set_drive_maps(shell: Any, guid: str, xml: str) -> int:
    """A GPO's drive maps (Group Policy Preferences): its Drives.xml over SMB, as the editor saves it; the new version."""
    proc = shell.run("/usr/bin/python3", "-c", _WRITE_DRIVES, guid, samba.ADMIN_PASSWORD_FILE, DRIVES_CSE, xml,
                     timeout=120)
    if proc.returncode != 0:
        raise LabError(f"Drives.xml de {guid} : {(proc.stderr or proc.stdout).strip()[-500:]}")
    return int(proc.stdout.strip().splitlines()[-1])
