"""The built-in network pack (entry point ``network``): SNMP agents, syslog delivery, routers' NAT.

Cross-host functional proofs (NAT, port forwarding, filtering: :mod:`checks.network.reach`)
run from the host on the side the rubric names, against a witness on the far side.

Functional checks ask the service itself from the grader's position (the ``snmp`` channel,
the grader's ``syslog`` collector); configuration checks read a device's rules over SSH.
Parsers for configurations read by other means live beside them: :mod:`checks.network.pfsense`
(pfSense ``config.xml``), :mod:`checks.network.ios_show` and :mod:`checks.network.ios_config`
(Cisco IOS show commands and running-config).
"""

from __future__ import annotations

from checks.network.dhcp import DhcpOffer
from checks.network.dhcp_relay import DhcpRelay
from checks.network.intervlan import CHECKS as INTERVLAN_CHECKS
from checks.network.ios import CHECKS as IOS_CHECKS
from checks.network.ipsec import CHECKS as IPSEC_CHECKS
from checks.network.iptables import CHECKS as IPTABLES_CHECKS
from checks.network.nftables import NftMasquerade
from checks.network.pfsense_checks import CHECKS as PFSENSE_CHECKS
from checks.network.pki import HttpsIssuedByCa
from checks.network.proxy import ProxyFilters
from checks.network.reach import DnsResolves, NatWorks, PortFiltered, PortForward
from checks.network.snmp import SnmpAgent, SnmpInterfaces, SnmpRefusesCommunity, SnmpVlans
from checks.network.snmp_source import SnmpRestrictedSource
from checks.network.snmp_trunk import SnmpTrunk
from checks.network.supervision import SupervisionHosts, SupervisionService
from checks.network.syslog import SyslogDelivered, SyslogReceived
from checks.network.voip import ExtensionRegistered, SipOptions
from checks.network.vpn import VpnReaches, VpnTunnelUp
from checks.network.zabbix import CHECKS as ZABBIX_CHECKS
from grader.check import Check
from grader.plugins import hookimpl

CHECKS: tuple[type[Check], ...] = (
    SnmpAgent,
    SnmpRefusesCommunity,
    SnmpInterfaces,
    SnmpVlans,
    SyslogDelivered,
    SyslogReceived,
    NftMasquerade,
    NatWorks,
    PortForward,
    PortFiltered,
    DnsResolves,
    DhcpOffer,
    DhcpRelay,
    ProxyFilters,
    HttpsIssuedByCa,
    VpnTunnelUp,
    VpnReaches,
    SupervisionHosts,
    SupervisionService,
    *ZABBIX_CHECKS,  # Zabbix's JSON-RPC API over the zabbix channel
    SnmpRestrictedSource,
    SnmpTrunk,
    SipOptions,  # telephony (CP5.4): the IPBX answers the grader's OPTIONS
    ExtensionRegistered,
    *IOS_CHECKS,  # Cisco IOS over the cli channel
    *PFSENSE_CHECKS,  # pfSense config.xml over the cli channel (console menu, shell)
    *IPTABLES_CHECKS,
    *IPSEC_CHECKS,  # strongSwan site-to-site IPsec (swanctl)
    *INTERVLAN_CHECKS,
)


@hookimpl
def grader_register_checks() -> list[type[Check]]:
    """Every check of the network pack."""
    return list(CHECKS)
