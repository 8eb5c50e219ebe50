"""The "supervision.hosts" judge: the hosts a running Nagios loaded, never a stopped one's leftovers.

Outputs captured on the demo lab's srv-lin (Debian 12, nagios4 4.4.6) while nagios4.service
ran and after ``systemctl stop nagios4`` (data/nagios_*).
"""

from __future__ import annotations

from dataclasses import replace

from checks.network.supervision import SupervisionHosts, parse_objects, parse_processes, parse_status_dat
from checks.network.vpn import parse_dated
from grader.check import evaluate
from grader.model import ProbeResult, Status
from tests.checks.conftest import load_capture, make_result

ROOM = ["srv-lin", "10.77.1.2", "10.77.1.20"]


def _judge(processus: ProbeResult, etat: ProbeResult, objets: ProbeResult | None = None, **params):
    check = SupervisionHosts()
    p = SupervisionHosts.Params(**{"hosts": ROOM, **params})
    assert set(check.probes(p)) == {"processus", "etat", "objets"}
    verdict = evaluate(check, p, {"processus": processus, "etat": etat,
                                  "objets": objets or load_capture("nagios_objects_c01.txt")})
    assert verdict.message
    return verdict


def _aged(result: ProbeResult, seconds: int) -> ProbeResult:
    _now, mtime, rest = result.stdout.split("\n", 2)
    return replace(result, stdout=f"{int(mtime) + seconds}\n{mtime}\n{rest}")


def test_parsers_on_the_running_daemons_files():
    status = parse_status_dat(parse_dated(load_capture("nagios_status_c01.txt").stdout).text)
    running = parse_processes(load_capture("nagios_pgrep_c01.txt").stdout)
    assert status.pid in running and "/etc/nagios4/nagios.cfg" in running[status.pid]
    assert sorted(status.hosts) == ["dc", "localhost", "routeur", "srv-lin"]
    objects = parse_objects(load_capture("nagios_objects_c01.txt").stdout)
    assert objects["routeur"] == "10.77.1.2" and objects["localhost"] == "127.0.0.1"


def test_the_running_nagios_supervises_the_expected_hosts():
    v = _judge(load_capture("nagios_pgrep_c01.txt"), load_capture("nagios_status_c01.txt"))
    assert v.status is Status.CONFORME
    assert "dc (10.77.1.20)" in v.observed and "routeur (10.77.1.2)" in v.observed and "Nagios en marche (pid" in v.observed
    by_name = _judge(load_capture("nagios_pgrep_c01.txt"), load_capture("nagios_status_c01.txt"),
                     hosts=["SRV-LIN", "routeur", "dc"])
    assert by_name.status is Status.CONFORME


def test_a_missing_host_is_non_conforme():
    v = _judge(load_capture("nagios_pgrep_c01.txt"), load_capture("nagios_status_c01.txt"),
               hosts=["srv-lin", "10.77.1.2", "10.77.1.20", "pc-lan", "10.77.1.40"])
    assert v.status is Status.NON_CONFORME and v.message.endswith("pc-lan, 10.77.1.40.")


def test_a_stopped_nagios_is_non_conforme():
    """Captured after systemctl stop nagios4: a clean stop removes status.dat."""
    v = _judge(load_capture("nagios_pgrep_stopped.txt"), load_capture("nagios_status_stopped.txt"))
    assert v.status is Status.NON_CONFORME and "aucun processus Nagios" in v.observed and "ne tourne pas" in v.message


def test_a_crashed_daemons_status_file_never_gives_conforme():
    """A daemon killed (or a file planted) leaves status.dat listing every host: no process, no proof."""
    left = load_capture("nagios_status_c01.txt")
    assert "host_name=dc" in left.stdout
    for age in (5, 3600):
        v = _judge(load_capture("nagios_pgrep_stopped.txt"), _aged(left, age))
        assert v.status is Status.NON_CONFORME and "aucun processus Nagios" in v.observed and "arrêté" in v.message


def test_a_stale_or_foreign_status_file_is_erreur_while_a_nagios_runs():
    running = load_capture("nagios_pgrep_c01.txt")
    v = _judge(running, _aged(load_capture("nagios_status_c01.txt"), 3600))
    assert v.status is Status.ERREUR and "60 min" in v.observed
    other_pid = make_result("4242 /usr/sbin/nagios4 /etc/nagios4/nagios.cfg\n")
    v = _judge(other_pid, load_capture("nagios_status_c01.txt"))
    assert v.status is Status.ERREUR and "4242" in v.observed


def test_no_status_file():
    absent = make_result("1795925100\n", "/usr/bin/stat: cannot statx '/var/lib/nagios4/status.dat': "
                                         "No such file or directory\n", 1)
    assert _judge(make_result("", "", 1), absent).status is Status.NON_CONFORME
    v = _judge(load_capture("nagios_pgrep_c01.txt"), absent)
    assert v.status is Status.ERREUR and "status_file" in v.message


def test_addresses_unreadable_is_erreur_for_address_entries_only():
    no_objects = make_result("", "/bin/grep: /var/lib/nagios4/objects.cache: No such file or directory\n", 2)
    v = _judge(load_capture("nagios_pgrep_c01.txt"), load_capture("nagios_status_c01.txt"), no_objects)
    assert v.status is Status.ERREUR and "10.77.1.2" in v.message
    v = _judge(load_capture("nagios_pgrep_c01.txt"), load_capture("nagios_status_c01.txt"), no_objects,
               hosts=["srv-lin", "routeur"])
    assert v.status is Status.CONFORME


def test_host_names_in_a_service_block_do_not_count():
    """A host only named by a service (servicestatus) is not a supervised host."""
    text = "1795925100\n1795925099\ninfo {\n\tcreated=1795925099\nprogramstatus {\n\tnagios_pid=46\n" \
           "servicestatus {\n\thost_name=dc\n"
    v = _judge(make_result("46 /usr/sbin/nagios4 /etc/nagios4/nagios.cfg\n"), make_result(text), hosts=["dc"])
    assert v.status is Status.NON_CONFORME and "hôtes chargés : aucun" in v.observed


# --- supervision.nagios_service: a service's state as the running daemon holds it -------------------------

def _service_status(now: int, *, state: int = 0, checked: int = 1, output: str = "TCP OK - port 22") -> ProbeResult:
    """status.dat lines as the probe's grep keeps them (Nagios 4.4.6's servicestatus block fields)."""
    text = (f"{now}\n{now - 2}\ninfo {{\n\tcreated={now - 2}\nprogramstatus {{\n\tnagios_pid=61\n"
            "hoststatus {\n\thost_name=c01-srv\n"
            f"servicestatus {{\n\thost_name=c01-srv\n\tservice_description=SSH\n\thas_been_checked={checked}\n"
            f"\tcurrent_state={state}\n\tlast_check={now - 3}\n\tplugin_output={output}\n"
            "servicestatus {\n\thost_name=c02-srv\n\tservice_description=HTTP\n\thas_been_checked=1\n"
            "\tcurrent_state=2\n")
    return make_result(text)


def _service(etat: ProbeResult, processus: ProbeResult | None = None, **params):
    from checks.network.supervision import SupervisionService

    check = SupervisionService()
    p = SupervisionService.Params(**{"host": "c01-srv", "service": "ssh", **params})
    assert set(check.probes(p)) == {"processus", "etat"}
    verdict = evaluate(check, p, {"processus": processus or make_result("61 /usr/sbin/nagios4 /etc/nagios4/nagios.cfg\n"),
                                  "etat": etat})
    assert verdict.message
    return verdict


def test_nagios_service_state_read_from_the_running_daemon():
    now = 1795925910
    v = _service(_service_status(now))
    assert v.status is Status.CONFORME and "SSH : OK (TCP OK - port 22)" in v.observed
    v = _service(_service_status(now, state=2, output="TCP CRITICAL - port 22 fermé"))
    assert v.status is Status.NON_CONFORME and "CRITICAL" in v.message
    assert _service(_service_status(now, state=2), state="CRITICAL").status is Status.CONFORME
    v = _service(_service_status(now, checked=0))
    assert v.status is Status.ERREUR and "pas encore été vérifié" in v.message
    v = _service(_service_status(now), service="HTTP")
    assert v.status is Status.NON_CONFORME and "services de c01-srv : SSH" in v.observed


def test_nagios_service_of_a_stopped_or_stale_daemon_proves_nothing():
    now = 1795925910
    v = _service(_service_status(now), load_capture("nagios_pgrep_stopped.txt"))
    assert v.status is Status.NON_CONFORME and "arrêté" in v.message
    v = _service(_aged(_service_status(now), 3600))
    assert v.status is Status.ERREUR


def test_nagios_service_states_recorded_in_the_lab():
    """tests/test_zabbix_lab.py's Nagios: SSH answers on both machines, apache2 is off (HTTP CRITICAL)."""
    pgrep, status = load_capture("nagios_services_pgrep.txt"), load_capture("nagios_services_status.txt")
    v = _service(status, pgrep, host="c02-srv", service="SSH")
    assert v.status is Status.CONFORME and "TCP OK - port 22" in v.observed
    v = _service(status, pgrep, host="c01-srv", service="HTTP")
    assert v.status is Status.NON_CONFORME and "TCP CRITICAL - port 80" in v.observed
    assert _service(status, pgrep, host="localhost", service="no such service").status is Status.NON_CONFORME
