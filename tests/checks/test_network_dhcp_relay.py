"""network.dhcp_relay: the running dhcrelay's command line decides, Debian's /etc/default file is evidence.

Command lines as Debian's /etc/init.d/isc-dhcp-relay (isc-dhcp-relay 4.4.3) builds them:
``dhcrelay -q $OPTIONS -i IF... $SERVERS``, printed by ``pgrep -a``; the defaults file as its
maintainer scripts write it. tests/test_intervlan_lab.py grades the real daemon.
"""

from __future__ import annotations

from checks.network.dhcp_relay import DhcpRelay, parse_defaults, parse_relays
from grader.model import Status
from tests.checks.conftest import make_result

DEFAULTS = make_result('# Defaults for isc-dhcp-relay initscript\nSERVERS="10.77.49.100"\nINTERFACES="eth1 eth2"\n'
                       'OPTIONS=""\n')
RUNNING = make_result("812 /usr/sbin/dhcrelay -q -i eth1 -i eth2 10.77.49.100\n")
PARAMS = {"server": "10.77.49.100", "interfaces": ["eth1", "eth2"]}


def test_parsers():
    [relay] = parse_relays("812 /usr/sbin/dhcrelay -q -a -m replace -i eth1 -iu eth2 10.77.49.100 10.77.49.101\n")
    assert relay.servers == ("10.77.49.100", "10.77.49.101") and relay.interfaces == ("eth1", "eth2")
    assert parse_relays("") == []
    assert parse_defaults(DEFAULTS.stdout) == {"SERVERS": "10.77.49.100", "INTERFACES": "eth1 eth2", "OPTIONS": ""}


def test_relay_running_towards_the_server(judge):
    v = judge(DhcpRelay, PARAMS, processus=RUNNING, defaut=DEFAULTS)
    assert v.status is Status.CONFORME and "eth1, eth2" in v.observed
    everywhere = make_result("812 /usr/sbin/dhcrelay -q 10.77.49.100\n")  # no -i: every interface
    assert judge(DhcpRelay, PARAMS, processus=everywhere, defaut=DEFAULTS).status is Status.CONFORME


def test_the_file_alone_relays_nothing(judge):
    v = judge(DhcpRelay, PARAMS, processus=make_result("", exit_code=1), defaut=DEFAULTS)
    assert v.status is Status.NON_CONFORME and 'SERVERS="10.77.49.100"' in v.observed


def test_wrong_server_or_interface_and_unreadable(judge):
    other = make_result("812 /usr/sbin/dhcrelay -q -i eth1 -i eth2 10.77.49.101\n")
    assert judge(DhcpRelay, PARAMS, processus=other, defaut=DEFAULTS).status is Status.NON_CONFORME
    one = make_result("812 /usr/sbin/dhcrelay -q -i eth2 10.77.49.100\n")
    v = judge(DhcpRelay, PARAMS, processus=one, defaut=DEFAULTS)
    assert v.status is Status.NON_CONFORME and "eth1" in v.message
    broken = make_result("", "pgrep: not found", exit_code=127)
    assert judge(DhcpRelay, PARAMS, processus=broken, defaut=DEFAULTS).status is Status.ERREUR
