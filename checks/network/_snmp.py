"""The MIB objects the SNMP checks read, by numeric OID, and the requests shared between checks.

The request and output grammar (and its reader) is :mod:`grader.probes.snmp`: no MIB is needed to
read the evidence back, so stored evidence can be re-judged anywhere.
"""

from __future__ import annotations

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


def norm(text: str) -> str:
    """Comparison form of a name or a sentence: case and runs of blanks do not count."""
    return " ".join(text.split()).casefold()
