"""Meta-tests of the hypervisor pack: every check honours the contract of grader.check.

Registered through pluggy as the entry point ``hypervisor = "checks.hypervisor"`` loads it; unique
``hypervisor.*`` ids; a French one-line sentence; a Params model refusing unknown parameters;
deterministic ssh probes with absolute paths; never conforme on empty or garbage output; lost
probes erreur; every check of a host shares one inventory probe (one execution per host).
"""

from __future__ import annotations

import re
import string
import tomllib
from pathlib import Path
from typing import Any

import pydantic
import pytest

import checks.hypervisor
from grader.check import CheckParams, evaluate
from grader.model import ProbeResult, Status, Verdict
from grader.plugins import collect_checks, default_transports, get_plugin_manager
from tests.checks.test_linux_pack import command_heads

ROOT = Path(__file__).resolve().parents[2]

SAMPLES: dict[str, dict[str, Any]] = {
    "hypervisor.vm": {"vm": "c01-web", "state": "running", "vcpus": 1, "memory": "96M",
                      "disks": [{"target": "vda", "size": "64M", "bus": "virtio", "format": "qcow2"}],
                      "nics": [{"bridge": "br0", "vlan": 10, "model": "virtio"}], "autostart": True},
    "hypervisor.snapshot": {"vm": "c01-web", "name": "avant-maj", "after": "2026-06-15T08:30:00+02:00"},
    "hypervisor.network": {"name": "br0", "ports": ["eth1"], "vlans": [10]},
    "hypervisor.storage": {"pool": "vms", "type": "dir", "free": "1G"},
    "hypervisor.guest_agent": {"vm": "c01-web"},
    "hypervisor.cluster": {"nodes": ["pve1", "pve2"], "ha": ["c01-web"]},  # Proxmox only: backend proxmox
    "backup.pve_recent": {"vm": "c01-web", "storage": "sauvegardes", "job": True},  # Proxmox only, no backend
}
BACKENDS = {"libvirt": "ssh", "proxmox": "pve", "hyperv": "winrm"}

CATALOGUE = collect_checks(get_plugin_manager(load_entrypoints=False, extra=(checks.hypervisor,)))
IDS = sorted(CATALOGUE)


def test_pack_is_registered_through_the_entry_point():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["grader"]["hypervisor"] == "checks.hypervisor"
    assert IDS == sorted(SAMPLES) and len(IDS) == len(checks.hypervisor.CHECKS)


def test_messages_are_in_the_translated_packs():
    from grader.i18n_checks import MSG_PACKS

    assert "checks/hypervisor" in MSG_PACKS


@pytest.mark.parametrize("check_id", IDS)
def test_identity_and_sentence(check_id):
    cls = CATALOGUE[check_id]
    assert check_id.startswith(("hypervisor.", "backup.")) and cls.id == check_id  # backup.pve_recent: issue #12
    assert cls.transport in default_transports()
    sentence = cls.sentence_template()
    assert sentence.endswith(".") and "\n" not in sentence
    assert re.match(r"^(Le |La |Les |L'|Un |Une )", sentence), sentence
    fields = {name for _, name, _, _ in string.Formatter().parse(sentence) if name}
    assert fields <= set(cls.Params.model_fields)
    assert "{" not in cls.sentence(cls.Params(**SAMPLES[check_id]))


@pytest.mark.parametrize("check_id", IDS)
def test_params_model(check_id):
    cls = CATALOGUE[check_id]
    assert issubclass(cls.Params, CheckParams) and cls.Params is not CheckParams
    with pytest.raises(pydantic.ValidationError):
        cls.Params(**SAMPLES[check_id], unexpected_parameter=1)
    with pytest.raises(pydantic.ValidationError):
        cls.Params(**SAMPLES[check_id] | {"backend": "vmware"})


@pytest.mark.parametrize("check_id", IDS)
def test_probes_are_deterministic_absolute_and_shared(check_id):
    cls = CATALOGUE[check_id]
    params = cls.Params(**SAMPLES[check_id])
    first, second = cls().probes(params), cls().probes(params)
    assert first == second and first
    channel = BACKENDS[getattr(params, "backend", "proxmox")]
    for name, probe in first.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name) and probe.timeout > 0 and probe.transport == channel
        if channel == "ssh":
            assert all(head.startswith("/") for head in command_heads(probe.command)), probe.command
            assert not probe.active
        else:  # the pve channel's language: the inventory walk (GET only), the agent ping (a POST, active)
            assert probe.active == (name == "agent")
    for backend in BACKENDS:
        inventory = {cls().probes(cls.Params(**SAMPLES[other] | {"backend": backend}))["inventory"].key
                     for other in IDS if other.startswith("hypervisor.") and not (
                         other == "hypervisor.cluster" and backend == "hyperv") for cls in [CATALOGUE[other]]}
        assert len(inventory) == 1, "every hypervisor check of a host shares one inventory probe"


def _proxmox_only(check_id: str) -> bool:
    """A check with no ``backend`` parameter: it reads the Proxmox API only."""
    return "backend" not in CATALOGUE[check_id].Params.model_fields


#: Every check with each back-end it runs on (a Proxmox-only check once; Hyper-V has no cluster check).
_CHECK_BACKENDS = [(check_id, backend) for check_id in IDS for backend in BACKENDS
                   if (not _proxmox_only(check_id) or backend == "proxmox")
                   and not (check_id == "hypervisor.cluster" and backend == "hyperv")]


@pytest.mark.parametrize("stdout", ["", "Bienvenue sur le serveur du candidat !\n", "\x00\x01garbage\n",
                                    ":: libvirt 9.0.0\n"])
@pytest.mark.parametrize("exit_code", [0, 1])
@pytest.mark.parametrize(("check_id", "backend"), _CHECK_BACKENDS)
def test_empty_or_garbage_output_is_never_conforme(check_id, backend, stdout, exit_code):
    cls = CATALOGUE[check_id]
    if _proxmox_only(check_id):
        params = cls.Params(**SAMPLES[check_id])
    else:
        params = cls.Params(**SAMPLES[check_id] | {"backend": backend})
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
