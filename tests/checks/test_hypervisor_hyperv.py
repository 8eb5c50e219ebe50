"""The ``hypervisor.*`` judges over Hyper-V: the inventory script's JSON (tests/winrm_standin/recordings, written
from Microsoft's Hyper-V cmdlet documentation) parsed into the model and judged by the libvirt judges."""

from __future__ import annotations

from dataclasses import replace

import pydantic
import pytest

from checks.hypervisor import _hyperv
from checks.hypervisor.checks import GuestAgent, NetworkBridge, StoragePool, VmConfigured, VmSnapshot
from grader.model import Probe, Status
from tests.checks.conftest import run_judge
from tests.winrm_standin.recordings import result as rec

WEB = {"backend": "hyperv", "vm": "c01-web", "state": "running", "vcpus": 2, "memory": "2G",
       "disks": [{"target": "scsi0:0", "size": "40G", "bus": "scsi", "format": "vhdx"}],
       "nics": [{"bridge": "LAN", "vlan": 10, "model": "netvsc"}], "autostart": True, "os_variant": "gen2"}


def inventory(name: str = "hyperv_inventory_lab"):
    return rec(name, Probe("winrm", _hyperv.inventory_script(), 90))


def judge(cls, params, **results):
    return run_judge(cls, params, inventory=results.pop("inventory", None) or inventory(), **results)


def test_the_documented_answer_parses_into_the_model():
    inv = _hyperv.parse_inventory(inventory().stdout)
    assert inv.backend == "hyperv" and inv.version == "10.0.20348.0" and [v.name for v in inv.vms] == ["c01-web", "c01-db"]
    web, db = inv.vms
    assert (web.state, web.vcpus, web.memory, web.autostart, web.os_variant) == ("running", 2, 2 * 2**30, True, "gen2")
    assert [(d.target, d.bus, d.format, d.capacity) for d in web.disks] == [("scsi0:0", "scsi", "vhdx", 40 * 2**30)]
    assert (web.nics[0].mac, web.nics[0].source, web.nics[0].vlans, web.nics[0].model) == (
        "00:15:5D:0A:01:32", "LAN", (10,), "netvsc")
    assert [(s.name, s.created, s.state) for s in web.snapshots] == [("avant-maj", 1796542200, "Standard")]
    assert (web.agent.declared, web.agent.state) == (True, "connected")
    assert (db.state, db.autostart, db.disks[0].format, db.nics[0].vlans, db.nics[0].trunk, db.snapshots) == (
        "shut off", False, "vhd", (10, 20, 30, 31, 32), True, ()), "StartIfRunning is not autostart"
    lan = inv.bridge("LAN")
    assert lan is not None and lan.vlan_filtering
    assert [(p.name, p.vlans) for p in lan.ports] == [("Ethernet 2", ()), ("c01-web/Network Adapter", (10,)),
                                                      ("c01-db/Network Adapter", (10, 20, 30, 31, 32)),
                                                      ("hôte/LAN", (99,))]
    assert inv.network("Interne").forward == "open" and inv.pool("D:").type == "ReFS"


def test_vm_conforme_then_each_difference_said():
    assert judge(VmConfigured, WEB).status is Status.CONFORME
    v = judge(VmConfigured, WEB | {"vcpus": 4, "memory": "4G", "nics": [{"bridge": "LAN", "vlan": 20}],
                                   "disks": [{"size": "60G", "format": "vhd"}]})
    assert v.status is Status.NON_CONFORME
    for said in ("2 vCPU au lieu de 4", "mémoire 2 GiB au lieu de 4 GiB", "VLAN 10 au lieu de 20",
                 "de 40 GiB au lieu de 60 GiB", "au format vhdx au lieu de vhd"):
        assert said in v.message, (said, v.message)
    v = judge(VmConfigured, {"backend": "hyperv", "vm": "c01-db", "autostart": True, "state": "running"})
    assert v.status is Status.NON_CONFORME and "état shut off au lieu de running" in v.message
    assert judge(VmConfigured, WEB | {"vm": "c02-web"}).status is Status.NON_CONFORME


def test_a_part_hyperv_refused_is_erreur_never_non_conforme():
    v = judge(VmConfigured, WEB, inventory=inventory("hyperv_inventory_disks_denied"))
    assert v.status is Status.ERREUR and "n'a pas été lue en entier : Get-VMHardDiskDrive c01-web" in v.message
    assert "required permission" in v.message
    assert judge(VmConfigured, {"backend": "hyperv", "vm": "c01-db", "vcpus": 1},
                 inventory=inventory("hyperv_inventory_disks_denied")).status is Status.CONFORME
    v = judge(VmConfigured, WEB, inventory=inventory("command_not_found_get_vm"))
    assert v.status is Status.ERREUR and "Get-VM" in v.message and "CommandNotFound" not in v.message


def test_a_cut_inventory_is_erreur():
    whole = inventory()
    cut = replace(whole, stdout=whole.stdout[:300], truncated=True)
    v = judge(VmConfigured, WEB, inventory=cut)
    assert v.status is Status.ERREUR and "tronquée" in v.message


def test_checkpoint_snapshot_after_the_start():
    params = {"backend": "hyperv", "vm": "c01-web", "name": "avant-maj", "after": "2026-12-06T08:00:00+01:00"}
    assert judge(VmSnapshot, params).status is Status.CONFORME
    v = judge(VmSnapshot, params | {"after": "2026-12-06T09:00:00+01:00"})
    assert v.status is Status.NON_CONFORME and "antérieur" in v.message
    assert judge(VmSnapshot, {"backend": "hyperv", "vm": "c01-db"}).status is Status.NON_CONFORME


def test_switch_with_its_uplink_and_vlans():
    assert judge(NetworkBridge, {"backend": "hyperv", "name": "LAN", "ports": ["Ethernet 2"],
                                 "vlans": [10, 20]}).status is Status.CONFORME
    v = judge(NetworkBridge, {"backend": "hyperv", "name": "LAN", "vlans": [40]})
    assert v.status is Status.NON_CONFORME and "VLAN absents : 40" in v.message
    v = judge(NetworkBridge, {"backend": "hyperv", "name": "DMZ"})
    assert v.status is Status.NON_CONFORME and "LAN" in v.observed


def test_volume_as_storage_pool():
    assert judge(StoragePool, {"backend": "hyperv", "pool": "D:", "type": "ReFS", "free": "300G"}).status is \
        Status.CONFORME
    v = judge(StoragePool, {"backend": "hyperv", "pool": "C:", "type": "ReFS", "free": "100G"})
    assert v.status is Status.NON_CONFORME and "type NTFS au lieu de ReFS" in v.message


def agent(name: str):
    return rec(name, Probe("winrm", _hyperv.agent_script("c01-web"), 30))


def test_integration_services_answer_by_guid_on_a_french_host():
    v = judge(GuestAgent, {"backend": "hyperv", "vm": "c01-web"}, agent=agent("hyperv_agent_web_fr"))
    assert v.status is Status.CONFORME and "Pulsation : OK" in v.observed
    v = judge(GuestAgent, {"backend": "hyperv", "vm": "c01-web", "services": ["Guest Service Interface"]},
              agent=agent("hyperv_agent_web_fr"))
    assert v.status is Status.NON_CONFORME and "Guest Service Interface désactivé" in v.observed


def test_a_silent_heartbeat_is_non_conforme_and_a_refused_read_erreur():
    v = judge(GuestAgent, {"backend": "hyperv", "vm": "c01-web"}, agent=agent("hyperv_agent_web_nocontact"))
    assert v.status is Status.NON_CONFORME and "Heartbeat : No Contact" in v.observed
    v = judge(GuestAgent, {"backend": "hyperv", "vm": "c01-web"}, agent=agent("command_not_found_get_vm"))
    assert v.status is Status.ERREUR and "Get-VM" in v.message
    v = judge(GuestAgent, {"backend": "hyperv", "vm": "c01-db"}, agent=agent("hyperv_agent_web_fr"))
    assert v.status is Status.NON_CONFORME and "ne tourne pas" in v.message


def test_services_are_known_and_hyperv_only():
    with pytest.raises(pydantic.ValidationError, match="inconnu"):
        GuestAgent.Params(backend="hyperv", vm="x", services=["Pulsation"])
    with pytest.raises(pydantic.ValidationError, match="hyperv"):
        GuestAgent.Params(backend="libvirt", vm="x", services=["VSS"])


def test_the_vm_name_is_a_literal_in_the_agent_script():
    script = _hyperv.agent_script("c01'; Stop-VM *; '")
    assert "$_.Name -eq 'c01''; Stop-VM *; '''" in script
    assert "-VMName" not in script, "-VMName takes wildcards"


def test_an_account_without_hyperv_rights_cannot_say_a_vm_is_missing():
    blind = inventory("hyperv_inventory_unprivileged")
    v = judge(VmConfigured, WEB, inventory=blind)
    assert v.status is Status.ERREUR and "Administrateurs Hyper-V" in v.message
    assert judge(NetworkBridge, {"backend": "hyperv", "name": "LAN"}, inventory=blind).status is Status.ERREUR
    assert judge(StoragePool, {"backend": "hyperv", "pool": "D:"}, inventory=blind).status is Status.CONFORME
    assert judge(VmConfigured, WEB | {"vm": "c02-web"}).status is Status.NON_CONFORME, "with the rights, missing is missing"


def test_two_vms_of_the_same_name_are_erreur():
    whole = inventory()
    twice = replace(whole, stdout=whole.stdout.replace('"Name":"c01-db"', '"Name":"c01-web"'))
    v = judge(VmConfigured, WEB, inventory=twice)
    assert v.status is Status.ERREUR and "2 VM portent le nom c01-web" in v.message
