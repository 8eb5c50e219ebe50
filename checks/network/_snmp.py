"""Reading back the ``snmp`` channel's evidence (see :mod:`grader.transports.snmp` for the grammar).

Pure: no pysnmp here, so stored evidence can be re-judged anywhere. One line per varbind::

    1.3.6.1.2.1.1.5.0 = STRING: "srv-lin"
    1.3.6.1.2.1.2.2.1.8.3 = INTEGER: 1
    1.3.6.1.2.1.1.9.9.0 = No Such Object
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from grader.model import Msg, ProbeResult

SYSTEM = "1.3.6.1.2.1.1"
SYS_DESCR, SYS_UPTIME, SYS_CONTACT, SYS_NAME, SYS_LOCATION = (f"{SYSTEM}.{n}.0" for n in (1, 3, 4, 5, 6))
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_ADMIN = "1.3.6.1.2.1.2.2.1.7"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18"
DOT1Q_VLAN_STATIC_NAME = "1.3.6.1.2.1.17.7.1.4.3.1.1"

#: A scalar probe shared by every check that needs the agent's identity (one GET, deduplicated).
SYSTEM_GET = f"get {SYS_DESCR} {SYS_UPTIME} {SYS_CONTACT} {SYS_NAME} {SYS_LOCATION}"
INTERFACES_WALK = f"walk {IF_DESCR} {IF_NAME} {IF_ALIAS} {IF_ADMIN} {IF_OPER}"
VLANS_WALK = f"walk {DOT1Q_VLAN_STATIC_NAME}"

IF_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent", 7: "lowerLayerDown"}
_EMPTY = ("No Such Object", "No Such Instance", "End of MIB", "NULL")


@dataclass(frozen=True)
class VarBind:
    oid: str
    type: str  # STRING, Hex-STRING, INTEGER, OID, Timeticks, ..., or the exception name
    value: str | int | None  # None for No Such Object/Instance, End of MIB, NULL

    @property
    def present(self) -> bool:
        return self.value is not None

    def text(self) -> str:
        return "" if self.value is None else str(self.value)


def parse_varbinds(stdout: str) -> list[VarBind]:
    """Every varbind line; a line that does not follow the grammar raises ValueError."""
    out: list[VarBind] = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        oid, sep, rest = line.partition(" = ")
        if not sep or not oid.replace(".", "").isdigit():
            raise ValueError(Msg("ligne SNMP illisible : {line}", line=repr(line[:120])))
        if rest in _EMPTY:
            out.append(VarBind(oid, rest, None))
            continue
        kind, sep, value = rest.partition(": ")
        if not sep:
            raise ValueError(Msg("ligne SNMP illisible : {line}", line=repr(line[:120])))
        if kind == "STRING":
            out.append(VarBind(oid, kind, json.loads(value)))
        elif kind in ("INTEGER", "Counter32", "Gauge32", "Timeticks", "Counter64"):
            out.append(VarBind(oid, kind, int(value)))
        else:
            out.append(VarBind(oid, kind, value))
    return out


def by_oid(result: ProbeResult) -> dict[str, VarBind]:
    return {vb.oid: vb for vb in parse_varbinds(result.stdout)}


def column(varbinds: dict[str, VarBind], root: str) -> dict[str, VarBind]:
    """Index (the OID suffix after ``root``) -> varbind, for one table column."""
    prefix = root + "."
    return {oid[len(prefix):]: vb for oid, vb in varbinds.items() if oid.startswith(prefix)}


def silent(result: ProbeResult) -> bool:
    """The agent never answered this probe (exit code 1, the reason in stderr)."""
    return result.exit_code not in (0, None) and not result.stdout.strip()


def norm(text: str) -> str:
    """Comparison form of a name or a sentence: case and runs of blanks do not count."""
    return " ".join(text.split()).casefold()
