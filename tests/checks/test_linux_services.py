"""linux.service_active: ``systemctl show`` outputs.

This machine has no systemd as PID 1, so only its failure is captured here
(systemctl_no_systemd.txt). The other outputs are written from systemctl(1) and
org.freedesktop.systemd1(5) (systemd 252, Debian 12): ``systemctl show -p A,B`` prints one
``Key=Value`` line per property, Service properties (MainPID) before Unit ones, and exits 0
even for a unit that does not exist (LoadState=not-found).
"""

from __future__ import annotations

import pydantic
import pytest

from checks.linux.services import ServiceActive, unit_name
from grader.model import Status


def show(load="loaded", active="active", sub="running", file_state="enabled", pid="1234"):
    return f"MainPID={pid}\nLoadState={load}\nActiveState={active}\nSubState={sub}\nUnitFileState={file_state}\n"


def test_running_and_enabled_is_conforme(judge, result):
    v = judge(ServiceActive, {"service": "apache2"}, unit=result(show()))
    assert v.status is Status.CONFORME
    assert "MainPID=1234" in v.observed


def test_masked_unit_still_running_is_non_conforme(judge, result):
    # `systemctl mask apache2` on a running service: it keeps running until stopped, but
    # LoadState and UnitFileState become masked and it cannot start again.
    v = judge(ServiceActive, {"service": "apache2"}, unit=result(show(load="masked", file_state="masked")))
    assert v.status is Status.NON_CONFORME and "masquée" in v.message


def test_unit_not_found_is_non_conforme(judge, result):
    out = show(load="not-found", active="inactive", sub="dead", file_state="", pid="0")
    v = judge(ServiceActive, {"service": "nginx"}, unit=result(out))
    assert v.status is Status.NON_CONFORME and "inexistant" in v.observed


@pytest.mark.parametrize("active,sub", [("inactive", "dead"), ("failed", "failed"), ("activating", "auto-restart"),
                                        ("deactivating", "stop-sigterm")])
def test_not_active_is_non_conforme(judge, result, active, sub):
    v = judge(ServiceActive, {"service": "apache2"}, unit=result(show(active=active, sub=sub, pid="0")))
    assert v.status is Status.NON_CONFORME


@pytest.mark.parametrize("state", ["enabled", "enabled-runtime", "alias", "static", "indirect"])
def test_boot_states_accepted(judge, result, state):
    assert judge(ServiceActive, {"service": "ssh"}, unit=result(show(file_state=state))).status is Status.CONFORME


@pytest.mark.parametrize("state", ["disabled", "masked-runtime", "linked", "transient", ""])
def test_active_but_not_enabled(judge, result, state):
    v = judge(ServiceActive, {"service": "apache2"}, unit=result(show(file_state=state)))
    assert v.status is Status.NON_CONFORME
    # ... which is fine when the rubric does not ask for it
    v = judge(ServiceActive, {"service": "apache2", "enabled": False}, unit=result(show(file_state=state)))
    assert v.status is Status.CONFORME


def test_generated_unit_cannot_tell_boot_state(judge, result):
    v = judge(ServiceActive, {"service": "oldsysv"}, unit=result(show(file_state="generated")))
    assert v.status is Status.ERREUR


def test_oneshot_exited_is_active(judge, result):
    v = judge(ServiceActive, {"service": "netfilter-persistent"}, unit=result(show(sub="exited", pid="0")))
    assert v.status is Status.CONFORME


def test_no_systemd_is_erreur(judge, capture):
    r = capture("systemctl_no_systemd.txt")
    assert r.exit_code == 1
    v = judge(ServiceActive, {"service": "apache2"}, unit=r)
    assert v.status is Status.ERREUR and "systemd" in v.message


@pytest.mark.parametrize("stdout,code", [
    ("", 0),
    ("LoadState=loaded\n", 0),  # incomplete
    ("Bienvenue !\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n", 0),
    (show() + "ActiveState=inactive\n", 0),  # a property twice: not systemctl's output
    (show(), 1),
    ("", 127),
])
def test_garbage_or_failure_is_erreur(judge, result, stdout, code):
    v = judge(ServiceActive, {"service": "apache2"}, unit=result(stdout, "", code))
    assert v.status is Status.ERREUR


def test_unit_names_are_normalised_so_probes_are_shared():
    a = ServiceActive().probes(ServiceActive.Params(service="apache2"))["unit"]
    b = ServiceActive().probes(ServiceActive.Params(service="apache2.service"))["unit"]
    assert a == b and a.key == b.key
    assert a.command.startswith("/usr/bin/systemctl show -p LoadState,ActiveState,SubState,UnitFileState,MainPID")
    assert unit_name("php8.2-fpm") == "php8.2-fpm.service"
    assert unit_name("cups.socket") == "cups.socket"
    assert unit_name("getty@tty1") == "getty@tty1.service"


@pytest.mark.parametrize("name", ["", "-H", "apache2; reboot", "a b", "$(id)"])
def test_service_names_are_validated(name):
    with pytest.raises(pydantic.ValidationError):
        ServiceActive.Params(service=name)
