"""The engine's own channels, registered like a third party's: through the ``grader`` entry-point group.

Each is declared by its probe language; registering the declarations (not the classes) is what
keeps connection libraries out of ``rubric validate`` and ``checks list``.
"""

from __future__ import annotations

from grader.hookspecs import hookimpl
from grader.probes import (
    cli,
    dhcp,
    dns,
    glpi,
    guest,
    http,
    kdc,
    ldap,
    pve,
    sip,
    smb,
    smb_as,
    snmp,
    ssh,
    ssh_peer,
    syslog,
    tls,
    winrm,
    zabbix,
)
from grader.probes.channel import ChannelSpec


@hookimpl
def grader_register_transports() -> list[ChannelSpec]:
    """Every built-in channel, by its declaration."""
    return [m.CHANNEL for m in (
        ssh, http, snmp, syslog, winrm, ldap, dns, cli, dhcp, smb, tls, pve, glpi, sip, guest, kdc, smb_as, ssh_peer,
        zabbix,
    )]
