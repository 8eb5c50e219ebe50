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
