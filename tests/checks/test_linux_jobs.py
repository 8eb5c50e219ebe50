"""linux.timer and linux.job_ran: outputs captured on a booted lab host (Debian 12, systemd 252).

The lab host ran sauvegarde.timer (``OnCalendar=minutely`` and ``daily``, enabled) triggering a
oneshot sauvegarde.service that exits 0, and echec.timer (static) triggering echec.service
(``/bin/false``). Each capture ends with the host's clock (``:: now``): the windows are measured
from it, never from the grader's clock; the tests move that clock to age the facts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pydantic
import pytest

from checks.linux.jobs import JobRan, TimerActive, parse_cron_journal, parse_sections, systemd_stamp
from grader.model import Status

NOW = 1796574046  # the host's clock in the timer captures


def later(result, seconds):
    """The same capture read ``seconds`` later by the host's clock."""
    out = result.stdout
    for stamp in ("1796574046", "1796574047"):
        out = out.replace(f":: now {stamp}", f":: now {int(stamp) + seconds}")
    return replace(result, stdout=out)


def test_sections_and_stamps(capture):
    s = parse_sections(capture("jobs_timer_ok.txt").stdout)
    assert s.one("timer", "Unit") == "sauvegarde.service" and len(s.timer["TimersCalendar"]) == 2
    assert s.one("service", "ExecMainStatus") == "0" and s.now == datetime.fromtimestamp(NOW, tz=UTC)
    assert systemd_stamp("Sun 2026-12-06 16:20:32 UTC") == datetime(2026, 12, 6, 16, 20, 32, tzinfo=UTC)
    assert systemd_stamp("") is None and systemd_stamp("n/a") is None
    assert systemd_stamp("Sun 2026-12-06 17:20:32 CET") is None  # only TZ=UTC output is read


def test_enabled_timer_that_ran(judge, capture):
    v = judge(TimerActive, {"timer": "sauvegarde", "ran_within_hours": 1}, timer=capture("jobs_timer_ok.txt"))
    assert v.status is Status.CONFORME
    assert "OnCalendar : *-*-* 00:00:00 | *-*-* *:*:00" in v.observed
    assert "dernier déclenchement : 2026-12-06 16:20:32 UTC (il y a 0.0 h)" in v.observed
    assert "sauvegarde.service : dernière fin 2026-12-06 16:20:32 UTC (il y a 0.0 h), code 0, Result=success" in v.observed


def test_calendar_normalised_by_the_host(judge, capture):
    v = judge(TimerActive, {"timer": "sauvegarde.timer", "calendar": "daily"}, timer=capture("jobs_timer_ok.txt"),
              calendar=capture("jobs_calendar_daily.txt"))
    assert v.status is Status.CONFORME
    other = replace(capture("jobs_calendar_daily.txt"),
                    stdout="  Original form: 02:00\nNormalized form: *-*-* 02:00:00\n")
    v = judge(TimerActive, {"timer": "sauvegarde", "calendar": "02:00"}, timer=capture("jobs_timer_ok.txt"),
              calendar=other)
    assert v.status is Status.NON_CONFORME and "*-*-* 02:00:00" in v.message


def test_calendar_systemd_refuses_is_erreur(judge, capture):
    v = judge(TimerActive, {"timer": "sauvegarde", "calendar": "tous les jours"}, timer=capture("jobs_timer_ok.txt"),
              calendar=capture("jobs_calendar_bad.txt"))
    assert v.status is Status.ERREUR and "Failed to parse calendar specification" in v.message


def test_timer_not_triggered_within_the_window_by_the_host_clock(judge, capture):
    old = later(capture("jobs_timer_ok.txt"), 3 * 3600)
    v = judge(TimerActive, {"timer": "sauvegarde", "ran_within_hours": 2}, timer=old)
    assert v.status is Status.NON_CONFORME and "depuis 2 h" in v.message and "il y a 3.0 h" in v.observed
    assert judge(TimerActive, {"timer": "sauvegarde", "ran_within_hours": 4}, timer=old).status is Status.CONFORME


def test_static_timer_whose_service_fails(judge, capture):
    r = capture("jobs_timer_failing.txt")
    v = judge(TimerActive, {"timer": "echec"}, timer=r)
    assert v.status is Status.NON_CONFORME and "pas activé au démarrage (static)" in v.message
    v = judge(TimerActive, {"timer": "echec", "enabled": False, "ran_within_hours": 1}, timer=r)
    assert v.status is Status.NON_CONFORME and "code 0" in v.message
    assert "code 1, Result=exit-code" in v.observed
    assert judge(TimerActive, {"timer": "echec", "enabled": False}, timer=r).status is Status.CONFORME


def test_missing_timer(judge, capture):
    v = judge(TimerActive, {"timer": "absent"}, timer=capture("jobs_timer_missing.txt"))
    assert v.status is Status.NON_CONFORME and "inexistant" in v.observed


@pytest.mark.parametrize("stdout", ["", "LoadState=loaded\n", "Bienvenue\n:: now 1\n", "LoadState=loaded\n:: now x\n"])
def test_garbage_is_erreur(judge, result, stdout):
    assert judge(TimerActive, {"timer": "t"}, timer=result(stdout)).status is Status.ERREUR


def test_timer_params_and_probe():
    with pytest.raises(pydantic.ValidationError):
        TimerActive.Params(timer="a b")
    with pytest.raises(pydantic.ValidationError):
        TimerActive.Params(timer="t", ran_within_hours=0)
    probes = TimerActive().probes(TimerActive.Params(timer="sauvegarde", calendar="Mon *-*-* 02:00"))
    assert "TZ=UTC /usr/bin/systemctl show" in probes["timer"].command and "/bin/date +%s" in probes["timer"].command
    assert probes["calendar"].command == "/usr/bin/systemd-analyze calendar -- 'Mon *-*-* 02:00'"


# -- linux.job_ran: a systemd service's last exit -----------------------------------------------------

def test_service_ran_with_code_zero(judge, capture):
    v = judge(JobRan, {"unit": "sauvegarde", "within_hours": 24}, service=capture("jobs_service_ok.txt"))
    assert v.status is Status.CONFORME and "code 0, Result=success" in v.observed
    v = judge(JobRan, {"unit": "sauvegarde", "within_hours": 24}, service=later(capture("jobs_service_ok.txt"), 86400 * 2))
    assert v.status is Status.NON_CONFORME and "24 dernières heures" in v.message


def test_service_that_failed(judge, capture):
    v = judge(JobRan, {"unit": "echec.service", "within_hours": 1}, service=capture("jobs_service_failed.txt"))
    assert v.status is Status.NON_CONFORME and "a échoué" in v.message and "code 1" in v.observed


def test_service_never_finished(judge, result):
    out = ":: service\nResult=success\nExecMainStartTimestamp=\nExecMainExitTimestamp=\nId=x.service\nLoadState=loaded\n" \
          "ActiveState=inactive\n:: now 1796574046\n"
    v = judge(JobRan, {"unit": "x", "within_hours": 1}, service=result(out))
    assert v.status is Status.NON_CONFORME and "aucune exécution terminée" in v.observed


# -- linux.job_ran: a cron job's CMD line in the journal ----------------------------------------------

JOURNAL = """:: now 1796574046
:: id 0 root
2026-12-06T02:00:01+0000 srv-web CRON[4242]: (root) CMD (/usr/local/bin/sauvegarde.sh >/dev/null 2>&1)
2026-12-06T15:17:01+00:00 srv-web CRON[5001]: (root) CMD (cd / && run-parts --report /etc/cron.hourly)
2026-12-06T16:00:01+0100 srv-web CROND[5100]: (alice) CMD (/home/alice/rapport.sh)
:: journal 0
"""


def test_journal_lines_parsed_in_utc():
    runs, now, uid, groups, code = parse_cron_journal(JOURNAL)
    assert [(r.user, r.when.hour) for r in runs] == [("root", 2), ("root", 15), ("alice", 15)]
    assert now == datetime.fromtimestamp(NOW, tz=UTC) and uid == 0 and groups == {"root"} and code == 0


def test_cron_job_ran_within_the_window(judge, result):
    v = judge(JobRan, {"command": r"sauvegarde\.sh", "user": "root", "within_hours": 24}, journal=result(JOURNAL))
    assert v.status is Status.CONFORME and "(root) /usr/local/bin/sauvegarde.sh" in v.observed
    assert "non journalisé" in v.observed
    v = judge(JobRan, {"command": r"sauvegarde\.sh", "within_hours": 12}, journal=result(JOURNAL))
    assert v.status is Status.NON_CONFORME and "run-parts" in v.observed
    assert judge(JobRan, {"command": "rapport", "user": "root", "within_hours": 24},
                 journal=result(JOURNAL)).status is Status.NON_CONFORME
    assert judge(JobRan, {"command": "rapport", "user": "alice", "within_hours": 1.5},
                 journal=result(JOURNAL)).status is Status.CONFORME


def test_cron_journal_unreadable_by_the_grading_account_is_erreur(judge, result):
    out = JOURNAL.replace(":: id 0 root", ":: id 1000 grader,users").replace("sauvegarde", "autre")
    v = judge(JobRan, {"command": "sauvegarde", "within_hours": 24}, journal=result(out))
    assert v.status is Status.ERREUR and "systemd-journal" in v.message
    ok = out.replace("grader,users", "grader,adm")
    assert judge(JobRan, {"command": "sauvegarde", "within_hours": 24}, journal=result(ok)).status is Status.NON_CONFORME


@pytest.mark.parametrize("stdout", ["", ":: now 1796574046\n:: id 0 root\n", ":: id 0 root\n:: journal 0\n",
                                    ":: now 1796574046\n:: id 0 root\n:: journal 1\n"])
def test_cron_journal_cut_or_failed_is_erreur(judge, result, stdout):
    assert judge(JobRan, {"command": "x", "within_hours": 1}, journal=result(stdout)).status is Status.ERREUR


def test_job_ran_params():
    with pytest.raises(pydantic.ValidationError):
        JobRan.Params(within_hours=24)
    with pytest.raises(pydantic.ValidationError):
        JobRan.Params(within_hours=24, command="x", unit="y")
    with pytest.raises(pydantic.ValidationError):
        JobRan.Params(within_hours=24, unit="y", user="root")
    command = JobRan().probes(JobRan.Params(within_hours=24, command="x"))["journal"].command
    assert "--since=-25h _COMM=cron + _COMM=crond" in command and "/bin/date +%s" in command
    assert JobRan.sentence(JobRan.Params(within_hours=24, unit="sauvegarde")) == \
        "La tâche sauvegarde s'est exécutée dans les 24 dernières heures."
    assert JobRan.sentence(JobRan.Params(within_hours=1.5, command=r"x\.sh")) == \
        "La tâche cron /x\\.sh/ s'est exécutée dans les 1.5 dernières heures."


def test_cron_journal_captured_on_a_lab_host(judge, capture):
    v = judge(JobRan, {"command": "sauvegarde", "user": "root", "within_hours": 1}, journal=capture("jobs_cron_journal.txt"))
    assert v.status is Status.CONFORME and "2026-12-06 16:23:01 UTC" in v.observed and "(root) /bin/true sauvegarde" in v.observed
