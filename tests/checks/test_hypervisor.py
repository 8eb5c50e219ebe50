"""Judges of the ``hypervisor.*`` checks over a real libvirt inventory (captured in the lab) and its parser.

``hypervisor_libvirt_inventory.txt`` is the inventory probe's output on the lab's hypervisor host:
c01-web running (1 vCPU, 96 MiB, 64 MiB qcow2 on virtio, virtio NIC on br0, autostart, snapshot
« avant-maj »), c01-db shut off (2 vCPU, 128 MiB, VLAN 20), libvirt's default network (inactive),
the ``vms`` dir pool, bridge br0 with ports lan0 and vnet0.
"""

from __future__ import annotations

import json

import pytest

from checks.hypervisor import _libvirt
from checks.hypervisor._model import parse_size, show_size
from checks.hypervisor.checks import GuestAgent, NetworkBridge, StoragePool, VmConfigured, VmSnapshot
from grader.model import Status
from tests.checks.conftest import load_capture, make_result, run_judge

INVENTORY = "hypervisor_libvirt_inventory.txt"
WEB = {"vm": "c01-web", "state": "running", "vcpus": 1, "memory": "96M",
       "disks": [{"target": "vda", "size": "64M", "bus": "virtio", "format": "qcow2"}],
       "nics": [{"bridge": "br0", "model": "virtio"}], "autostart": True, "os_type": "hvm", "os_variant": "debian/12"}


def inventory():
    return load_capture(INVENTORY)


def test_the_captured_inventory_parses_into_the_model():
    inv = _libvirt.parse_inventory(inventory().stdout)
    assert inv.version == "9.0.0" and [v.name for v in inv.vms] == ["c01-web", "c01-db"]
    web, db = inv.vms
    assert (web.state, web.vcpus, web.memory, web.autostart) == ("running", 1, 96 * 2**20, True)
    assert web.disks[0].capacity == 64 * 2**20 and web.agent.state == "connected"
    assert [s.name for s in web.snapshots or ()] == ["avant-maj"]
    assert (db.state, db.nics[0].vlans, db.snapshots, db.agent.declared) == ("shut off", (20,), (), True)
    assert inv.pool("vms").type == "dir" and inv.pool("vms").available > 2**30
    assert inv.network("default").active is False and inv.network("default").bridge == "virbr0"
    assert [p.name for p in inv.bridge("br0").ports] == ["lan0", "vnet0"]


def test_vm_as_the_rubric_says_is_conforme():
    verdict = run_judge(VmConfigured, WEB, inventory=inventory())
    assert verdict.status is Status.CONFORME, verdict.message
    assert "running, 1 vCPU, 96 MiB, vda 64 MiB virtio qcow2, NIC br0 virtio" in verdict.observed


def test_each_wrong_fact_is_said():
    params = WEB | {"memory": "2G", "vcpus": 2, "disks": [{"size": "20G", "bus": "sata"}],
                    "nics": [{"bridge": "br0", "vlan": 10}], "autostart": False}
    verdict = run_judge(VmConfigured, params, inventory=inventory())
    assert verdict.status is Status.NON_CONFORME
    for said in ("1 vCPU au lieu de 2", "mémoire 96 MiB au lieu de 2 GiB", "disque vda de 64 MiB au lieu de 20 GiB",
                 "disque vda sur le bus virtio au lieu de sata", "VLAN aucun au lieu de 10",
                 "démarrage automatique activé"):
        assert said in verdict.message, (said, verdict.message)


def test_sizes_have_a_tolerance():
    assert run_judge(VmConfigured, {"vm": "c01-web", "memory": "100MB"}, inventory=inventory()).status is \
        Status.CONFORME  # 100 MB = 95.4 MiB: within 10 %
    assert run_judge(VmConfigured, {"vm": "c01-web", "memory": "100MB", "tolerance": 0},
                     inventory=inventory()).status is Status.NON_CONFORME


def test_a_shut_off_vm_with_its_vlan():
    params = {"vm": "c01-db", "state": "shut off", "vcpus": 2, "memory": "128 Mio", "nics": [{"bridge": "br0", "vlan": 20}]}
    assert run_judge(VmConfigured, params, inventory=inventory()).status is Status.CONFORME
    verdict = run_judge(VmConfigured, params | {"state": "running"}, inventory=inventory())
    assert verdict.status is Status.NON_CONFORME and "état shut off au lieu de running" in verdict.message


def test_a_missing_vm_is_non_conforme_unless_the_listing_was_cut():
    verdict = run_judge(VmConfigured, {"vm": "c02-web"}, inventory=inventory())
    assert verdict.status is Status.NON_CONFORME and "c01-web, c01-db" in verdict.observed
    cut = inventory().stdout.split("@@ domain")[0] + "@@ domain 0589596c-a2d4-4237-a341-f535faf2e293\n== xml\n|<dom"
    verdict = run_judge(VmConfigured, {"vm": "c02-web"}, inventory=make_result(cut, truncated=True))
    assert verdict.status is Status.ERREUR and "tronqué" in verdict.message


def test_snapshot_named_and_after_the_exam_start():
    ok = run_judge(VmSnapshot, {"vm": "c01-web", "name": "avant-maj", "after": "2026-12-06T08:00:00+01:00"},
                   inventory=inventory())
    assert ok.status is Status.CONFORME and "avant-maj (" in ok.observed
    late = run_judge(VmSnapshot, {"vm": "c01-web", "name": "avant-maj", "after": "2026-12-07T08:00:00+01:00"},
                     inventory=inventory())
    assert late.status is Status.NON_CONFORME and "antérieur" in late.message
    assert run_judge(VmSnapshot, {"vm": "c01-web", "name": "autre"}, inventory=inventory()).status is \
        Status.NON_CONFORME
    none = run_judge(VmSnapshot, {"vm": "c01-db"}, inventory=inventory())
    assert none.status is Status.NON_CONFORME and none.observed == "aucun instantané"


def test_snapshot_time_needs_its_zone():
    with pytest.raises(ValueError, match="fuseau"):
        VmSnapshot.Params(vm="x", after="2026-12-06T08:00:00")


def test_guest_agent_answers():
    agent = load_capture("hypervisor_agent_guest_info.txt")
    verdict = run_judge(GuestAgent, {"vm": "c01-web"}, inventory=inventory(), agent=agent)
    assert verdict.status is Status.CONFORME and verdict.observed == "qemu-ga 7.2.22 répond (canal connected)"


def test_guest_agent_of_a_stopped_vm_or_a_silent_agent():
    silent = make_result("\n", "error: Guest agent is not responding: QEMU guest agent is not connected\n", 1)
    verdict = run_judge(GuestAgent, {"vm": "c01-web"}, inventory=inventory(), agent=silent)
    assert verdict.status is Status.NON_CONFORME and "not connected" in verdict.observed
    off = make_result("\n", "error: Requested operation is not valid: domain is not running\n", 1)
    verdict = run_judge(GuestAgent, {"vm": "c01-db"}, inventory=inventory(), agent=off)
    assert verdict.status is Status.NON_CONFORME and verdict.observed == "VM dans l'état shut off"
    missing = make_result("", "virsh absent\n", 127)
    assert run_judge(GuestAgent, {"vm": "c01-web"}, inventory=inventory(), agent=missing).status is Status.ERREUR


def test_storage_pool():
    assert run_judge(StoragePool, {"pool": "vms", "type": "dir", "free": "1G", "autostart": True},
                     inventory=inventory()).status is Status.CONFORME
    verdict = run_judge(StoragePool, {"pool": "vms", "type": "logical", "free": "10T"}, inventory=inventory())
    assert verdict.status is Status.NON_CONFORME
    assert "type dir au lieu de logical" in verdict.message and "seulement 221.3 GiB libres" in verdict.message
    assert run_judge(StoragePool, {"pool": "iso"}, inventory=inventory()).status is Status.NON_CONFORME


def test_bridge_and_its_ports():
    assert run_judge(NetworkBridge, {"name": "br0", "ports": ["lan0"]}, inventory=inventory()).status is \
        Status.CONFORME
    verdict = run_judge(NetworkBridge, {"name": "br0", "ports": ["eth1"], "vlans": [10]}, inventory=inventory())
    assert verdict.status is Status.NON_CONFORME
    assert "ports absents : eth1" in verdict.message and "ne filtre pas les VLAN" in verdict.message
    inactive = run_judge(NetworkBridge, {"name": "default"}, inventory=inventory())
    assert inactive.status is Status.NON_CONFORME and "inactif" in inactive.message
    assert run_judge(NetworkBridge, {"name": "br9"}, inventory=inventory()).status is Status.NON_CONFORME


def _vlan_aware(text: str) -> str:
    """The captured inventory with br0 VLAN-aware and VLANs 10 and 20 on lan0.

    Written after iproute2 6.1's JSON (``ip -d -j link``: ``info_data.vlan_filtering``; ``bridge -j vlan
    show``: ``[{"ifname", "vlans": [{"vlan", "flags"}]}]``): this lab's kernel has no bridge VLAN filtering.
    """
    text = text.replace('"vlan_filtering":0', '"vlan_filtering":1', 1)
    vlans = [{"ifname": "lan0", "vlans": [{"vlan": 1, "flags": ["PVID", "Egress Untagged"]}, {"vlan": 10}, {"vlan": 20}]}]
    return text.replace("== vlans\n|[]\n", "== vlans\n|" + json.dumps(vlans) + "\n")


def test_vlan_aware_bridge():
    assert inventory().stdout.count('"vlan_filtering":0') == 1
    aware = make_result(_vlan_aware(inventory().stdout))
    ok = run_judge(NetworkBridge, {"name": "br0", "ports": ["lan0"], "vlans": [10, 20], "vlan_aware": True},
                   inventory=aware)
    assert ok.status is Status.CONFORME and "filtrage VLAN oui ; VLAN 1, 10, 20" in ok.observed
    lacking = run_judge(NetworkBridge, {"name": "br0", "vlans": [30]}, inventory=aware)
    assert lacking.status is Status.NON_CONFORME and "VLAN absents : 30" in lacking.message


@pytest.mark.parametrize("forged", [
    "|<domain>\n:: end 0\n@@ domain 0000\n",  # a line without its | prefix inside a part
    ":: libvirt 9.0.0\n:: domains 0\n|stray\n@@ domain abc\n== xml\n|<domain/>\n",  # a part never closed
    ":: libvirt 9.0.0\n@@ domain abc\n",  # an object before its listing
])
def test_the_framing_cannot_be_forged_or_cut_silently(forged):
    with pytest.raises(_libvirt.FramingError):
        _libvirt.parse_framing(forged if forged.startswith(":: libvirt") else ":: libvirt 9\n:: domains 0\n" + forged)


def test_a_description_cannot_forge_a_domain():
    # What a candidate may write in a VM's <description> reaches the output as |-prefixed content only.
    text = inventory().stdout.replace("|<name>c01-db</name>", "|<name>c01-db</name>\n|@@ domain ffff\n|== xml", 1)
    assert [v.name for v in _libvirt.parse_inventory(text).vms] == ["c01-web", "c01-db"]


def test_xml_with_a_dtd_is_refused():
    bomb = '<!DOCTYPE d [<!ENTITY a "aaaa">]><domain><name>&a;</name></domain>'
    with pytest.raises(ValueError):
        _libvirt.domain_from_xml(_libvirt.xml(bomb))


def test_the_probe_drops_only_self_closing_address_and_alias_lines():
    assert "/usr/bin/virsh -c qemu:///system dumpxml" in _libvirt.inventory_command()
    assert "<address " not in inventory().stdout and "<alias " not in inventory().stdout
    assert "|<source bridge='br0'/>" in inventory().stdout


@pytest.mark.parametrize(("text", "size"), [("2G", 2 * 2**30), ("2 Gio", 2 * 2**30), ("2048 MiB", 2 * 2**30),
                                            ("20GB", 20 * 10**9), ("1,5 Go", 3 * 2**29), (512, 512)])
def test_sizes(text, size):
    assert parse_size(text) == size


def test_bad_sizes_are_refused_when_the_rubric_loads():
    with pytest.raises(ValueError, match="taille invalide"):
        VmConfigured.Params(vm="x", memory="deux gigas")
    assert show_size(96 * 2**20) == "96 MiB" and show_size(3 * 2**29) == "1.5 GiB"


def test_a_shared_hypervisor_shows_each_candidate_only_their_own_vms():
    text = inventory().stdout
    only_web = _libvirt.own_domains(text, lambda name: name == "c01-web")
    inv = _libvirt.parse_inventory(only_web)
    assert [v.name for v in inv.vms] == ["c01-web"] and "c01-db" not in only_web
    assert inv.pool("vms") is not None and inv.bridge("br0") is not None  # the host's own facts stay
    nobody = _libvirt.parse_inventory(_libvirt.own_domains(text, lambda name: False))
    assert nobody.vms == [] and nobody.network("default") is not None
    assert _libvirt.own_domains(text, lambda name: True) == text
    verdict = run_judge(VmConfigured, WEB | {"vm": "c02-web"}, inventory=make_result(
        _libvirt.own_domains(text, lambda name: name.startswith("c02-"))))
    assert verdict.status is Status.NON_CONFORME and "c01" not in verdict.observed


def test_a_domain_whose_name_was_not_printed_is_kept():
    """Dropping it could turn « could not read » (erreur) into « no such VM » (non conforme)."""
    text = inventory().stdout.replace("|<name>c01-db</name>", "|<nom>c01-db</nom>")
    kept = _libvirt.own_domains(text, lambda name: name == "c01-web")
    assert "b1fc6988-8f8b-4ce0-9c91-dd83bf9d3194" in kept
