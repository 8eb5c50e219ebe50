"""Meta-tests of the network pack: every check honours the contract of grader.check.

Registered through pluggy as the entry point ``network = "checks.network"`` loads it; unique
``network.*`` ids; a French one-line sentence; a Params model refusing unknown parameters;
deterministic probes on the transports the engine knows (ssh probes with absolute paths);
never conforme on empty or garbage output; lost probes erreur. That a test shows each check
conforme is held by tests/conftest.py.
"""

from __future__ import annotations

import re
import string
import tomllib
from pathlib import Path
from typing import Any

import pydantic
import pytest

import checks.network
from grader.check import TOKEN, CheckParams, evaluate
from grader.model import ProbeResult, Status, Verdict
from grader.plugins import collect_checks, default_transports, get_plugin_manager
from tests.checks.test_linux_pack import command_heads

ROOT = Path(__file__).resolve().parents[2]

SAMPLES: dict[str, dict[str, Any]] = {
    "network.snmp_agent": {"sys_location": "Salle B12"},
    "network.snmp_refuses": {},
    "network.snmp_interfaces": {"interfaces": ["eth0"]},
    "network.snmp_vlans": {"vlans": {10: "SERVEURS", 20: None}},
    "network.syslog_delivered": {},
    "network.syslog_received": {"collector": "192.168.10.50", "collector_credential": "journaux", "collector_sudo": True,
                                "collector_port": 22, "paths": ["/var/log/distants"], "wait": 5},
    "network.nft_masquerade": {"oifname": "eth2", "source": "192.168.10.0/24"},
    "network.nat_works": {"witness": "203.0.113.10", "source": "203.0.113.1"},
    "network.port_forward": {"address": "203.0.113.1", "port": 8080, "server": "srv-web"},
    "network.port_filtered": {"address": "203.0.113.1", "port": 22, "control_port": 8080},
    "network.dns_resolves": {"name": "intranet.tssr.lan", "address": "192.168.10.10"},
    "proxy.filters": {"proxy": "192.168.10.254", "allowed": "http://www.example/", "blocked": "http://jeux.example/",
                      "expect": "Bienvenue"},
    "pki.https_issued_by_ca": {"name": "intranet.tssr.lan"},
    "vpn.tunnel_up": {"interface": "tun0", "status_file": "/run/openvpn-server/status-tssr.log",
                      "peer": "teletravailleur", "peer_address": "203.0.113.40"},
    "vpn.reaches": {"witness": "192.168.10.70", "server": "pc-lan"},
    "vpn.ipsec_sa": {"peer": "203.0.113.2", "local_ts": ["192.168.10.0/24"], "remote_ts": ["192.168.20.0/24"]},
    "network.intervlan_routed": {"witness": "192.168.20.5", "source_network": "192.168.10.0/24", "vlan": "10"},
    "network.dhcp_relay": {"server": "192.168.20.5", "interfaces": ["eth1"]},
    "network.ios_helper_address": {"interface": "Gi0/0.10", "server": "192.168.20.5"},
    "network.snmp_trunk": {"interface": "Gi0/1", "allowed": [10, 20], "native": 99},
    "network.ios_trunk": {"interface": "Gi0/1", "allowed": [10, 20], "native": 99, "only": True},
    "vpn.ipsec_lan_to_lan": {"witness": "192.168.20.70", "local_ts": ["192.168.10.0/24"], "server": "srv-b"},
    "supervision.hosts": {"hosts": ["srv-lin", "192.168.10.254"]},
    "supervision.nagios_service": {"host": "srv-lin", "service": "SSH"},
    "supervision.zabbix_host": {"host": "c01-srv", "address": "192.168.10.20", "templates": ["Linux by Zabbix agent"]},
    "supervision.zabbix_agent": {"host": "c01-srv"},
    "supervision.zabbix_item": {"host": "c01-srv", "key": "net.tcp.service[ssh]", "value": "^1$"},
    "supervision.zabbix_trigger": {"host": "c01-srv", "key": "net.tcp.service[ssh]"},
    "supervision.zabbix_problem": {"host": "c01-srv", "absent": ["SSH"]},
    "snmp.restricted_source": {"agent": "192.168.10.254", "community": "tssr-ro"},
    "network.dhcp_offer": {"interface": "grd-c01-lan", "range_start": "192.168.10.100",
                           "range_end": "192.168.10.200", "router": "192.168.10.254", "dns": ["192.168.10.10"]},
    "network.ios_vlans": {"vlans": {10: "Compta", 20: None}, "ports": {10: ["Fa0/1"]}},
    "network.ios_interface_up": {"interface": "Gi0/1", "address": "192.168.10.1"},
    "network.ios_route": {"prefix": "0.0.0.0/0", "next_hop": "203.0.113.1"},
    "network.ios_nat_overload": {"outside": "Gi0/0", "inside": "Gi0/1", "source": "192.168.10.0/24"},
    "network.ios_acl_applied": {"interface": "Gi0/0", "acl": "FILTRE-WAN"},
    "network.ios_logging_host": {"host": "192.168.10.50"},
    "network.ios_snmp_community": {"community": "tssr-ro"},
    "network.pfsense_port_forward": {"port": 8080, "target": "192.168.1.20", "local_port": 80},
    "network.pfsense_outbound_nat": {"source": "192.168.1.0/24"},
    "network.pfsense_filter": {"interface": "lan", "port": 22, "allowed": True},
    "network.pfsense_dhcp_range": {"start": "192.168.1.100", "end": "192.168.1.199"},
    "network.pfsense_syslog_remote": {"server": "192.168.1.50"},
    "network.iptables_masquerade": {"oifname": "eth1", "source": "192.168.10.0/24"},
    "network.iptables_port_forward": {"port": 8080, "target": "192.168.10.20", "target_port": 80},
    "network.iptables_port_blocked": {"port": 23},
    "voip.sip_options": {"server_contains": "Asterisk"},
    "voip.extension_registered": {"extension": "101", "address": "192.168.10.21"},
}

CATALOGUE = collect_checks(get_plugin_manager(load_entrypoints=False, extra=(checks.network,)))
IDS = sorted(CATALOGUE)


def test_pack_is_registered_through_the_entry_point():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["grader"]["network"] == "checks.network"
    assert IDS == sorted(SAMPLES) and len(IDS) == len(checks.network.CHECKS)


@pytest.mark.parametrize("check_id", IDS)
def test_identity_and_sentence(check_id):
    cls = CATALOGUE[check_id]
    assert check_id.startswith(("network.", "proxy.", "pki.", "vpn.", "supervision.", "snmp.", "voip."))
    assert cls.id == check_id
    assert cls.platform in ("linux", "network", "any") and cls.transport in default_transports()
    sentence = cls.sentence_template()
    assert sentence.endswith(".") and "\n" not in sentence
    assert re.match(r"^(Le |La |Les |L'|Un |Une |Aucun |Aucune )", sentence), sentence
    assert not re.search(r"\b(the|is|and|must|with)\b", sentence), sentence
    fields = {name for _, name, _, _ in string.Formatter().parse(sentence) if name}
    assert fields <= set(cls.Params.model_fields)
    assert "{" not in cls.sentence(cls.Params(**SAMPLES[check_id]))


@pytest.mark.parametrize("check_id", IDS)
def test_params_model(check_id):
    cls = CATALOGUE[check_id]
    assert issubclass(cls.Params, CheckParams) and cls.Params is not CheckParams
    with pytest.raises(pydantic.ValidationError):
        cls.Params(**SAMPLES[check_id], unexpected_parameter=1)


@pytest.mark.parametrize("check_id", IDS)
def test_probes_are_deterministic_on_known_transports(check_id):
    cls = CATALOGUE[check_id]
    params = cls.Params(**SAMPLES[check_id])
    first, second = cls().probes(params), cls().probes(params)
    assert first == second and first
    for name, probe in first.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name) and probe.timeout > 0
        assert probe.transport in default_transports()
        if probe.transport == "ssh":
            assert all(head.startswith("/") for head in command_heads(probe.command)), probe.command
        if probe.transport == "snmp":
            from grader.probes.snmp import parse_request

            parse_request(probe.command.replace(TOKEN, "0123456789abcdef"))
        if TOKEN in probe.command:
            assert probe.active, "a probe carrying the run's token has an effect: it is active"


@pytest.mark.parametrize("stdout", ["", "Bienvenue sur le serveur du candidat !\n", "\x00\x01garbage\n"])
@pytest.mark.parametrize("exit_code", [0, 1])
@pytest.mark.parametrize("check_id", IDS)
def test_empty_or_garbage_output_is_never_conforme(check_id, stdout, exit_code):
    cls = CATALOGUE[check_id]
    params = cls.Params(**SAMPLES[check_id])
    results = {name: ProbeResult(key=p.key, transport=p.transport, command=p.command, stdout=stdout,
                                 exit_code=exit_code) for name, p in cls().probes(params).items()}
    verdict = cls().judge(params, results)
    assert isinstance(verdict, Verdict) and verdict.message
    assert verdict.status is not Status.CONFORME


@pytest.mark.parametrize("check_id", IDS)
def test_lost_or_timed_out_probes_are_erreur_before_the_judge(check_id):
    cls = CATALOGUE[check_id]
    params = cls.Params(**SAMPLES[check_id])
    results = {name: ProbeResult(key=p.key, transport=p.transport, command=p.command, timed_out=True)
               for name, p in cls().probes(params).items()}
    assert evaluate(cls(), params, results).status is Status.ERREUR


def test_checks_list_shows_the_pack():
    from grader.plugins import default_catalogue

    assert set(IDS) <= set(default_catalogue())
