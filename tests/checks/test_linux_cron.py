"""linux.cron_entry: the tables dump captured on Debian 12 (cron 3.0pl1-162) and a RHEL 9 (cronie) one.

Debian capture (cron_dump_debian.txt): /etc/crontab and e2scrub_all as packaged, plus test
tables: cron.d/sauvegarde (valid), cron.d/nettoyage.bak (a dot in the name), cron.d/rotation
(mode 664), cron.d/inventaire (no final newline), cron.d/supervision (commented out), alice's
table installed with ``crontab -u alice`` and a misplaced /var/spool/cron/alice.
"""

from __future__ import annotations

import pydantic
import pytest

from checks.linux._parse import parse_dump
from checks.linux._schedule import ScheduleError, normalise, same_schedule
from checks.linux.cron import CronEntryExists
from grader.model import Status


def debian(judge, capture, **params):
    return judge(CronEntryExists, params, crontabs=capture("cron_dump_debian.txt"))


def redhat(judge, capture, **params):
    return judge(CronEntryExists, params, crontabs=capture("cron_dump_redhat.txt"))


def test_valid_system_table(judge, capture):
    v = debian(judge, capture, pattern=r"/usr/local/bin/sauvegarde\.sh", user="root")
    assert v.status is Status.CONFORME
    assert "/etc/cron.d/sauvegarde:3 [root] 30 2 * * *" in v.observed


def test_etc_crontab_entries(judge, capture):
    v = debian(judge, capture, pattern=r"run-parts --report /etc/cron\.daily", user="root")
    assert v.status is Status.CONFORME and "/etc/crontab:19" in v.observed


def test_dotted_name_in_cron_d_is_ignored_on_debian(judge, capture):
    v = debian(judge, capture, pattern="nettoyage", user="root")
    assert v.status is Status.NON_CONFORME and "ignoré" in v.observed
    assert "/etc/cron.d/nettoyage.bak:1 [root] 0 3 * * *" in v.observed


def test_group_writable_table_is_ignored(judge, capture):
    v = debian(judge, capture, pattern="rotation")
    assert v.status is Status.NON_CONFORME and "664" in v.observed


def test_missing_final_newline_makes_debian_ignore_the_file(judge, capture):
    v = debian(judge, capture, pattern="inventaire")
    assert v.status is Status.NON_CONFORME and "fin de ligne" in v.observed


def test_commented_out_entry(judge, capture):
    v = debian(judge, capture, pattern="supervision")
    assert v.status is Status.NON_CONFORME and "commentaire" in v.observed
    assert "/etc/cron.d/supervision:2" in v.observed


def test_user_table_and_reboot_keyword(judge, capture):
    v = debian(judge, capture, pattern="demarrage", user="alice")
    assert v.status is Status.CONFORME and "/var/spool/cron/crontabs/alice:5 [alice] @reboot" in v.observed
    assert debian(judge, capture, pattern="demarrage", user="root").status is Status.NON_CONFORME
    assert debian(judge, capture, pattern=r"rsync -a /srv/ /mnt/backup/").status is Status.CONFORME


def test_redhat_location_is_not_read_on_debian(judge, capture):
    v = debian(judge, capture, pattern="rapport")
    assert v.status is Status.NON_CONFORME and "/var/spool/cron/alice" in v.observed


def test_variables_are_not_jobs(judge, capture):
    assert debian(judge, capture, pattern="MAILTO").status is Status.NON_CONFORME
    assert debian(judge, capture, pattern=r"/usr/local/sbin").status is Status.NON_CONFORME  # PATH=...


def test_absent_job(judge, capture):
    v = debian(judge, capture, pattern="mysqldump")
    assert v.status is Status.NON_CONFORME and "table(s) lue(s)" in v.observed


def test_redhat_rules(judge, capture):
    assert redhat(judge, capture, pattern="run-parts /etc/cron.hourly", user="root").status is Status.CONFORME
    # cronie reads dotted names, but not *.rpmsave
    assert redhat(judge, capture, pattern="sauvegarde").status is Status.CONFORME
    assert redhat(judge, capture, pattern="nettoyage").status is Status.NON_CONFORME
    assert redhat(judge, capture, pattern="rotation").status is Status.NON_CONFORME  # mode 664
    # without a final newline only the last line is lost
    assert redhat(judge, capture, pattern="premier").status is Status.CONFORME
    assert redhat(judge, capture, pattern="inventaire").status is Status.NON_CONFORME
    # /var/spool/cron/USER is the user table there; owned by root is accepted, group-writable is not
    v = redhat(judge, capture, pattern="rapport", user="alice")
    assert v.status is Status.CONFORME and "/var/spool/cron/alice:1 [alice]" in v.observed
    assert redhat(judge, capture, pattern="bob.sh", user="bob").status is Status.CONFORME
    assert redhat(judge, capture, pattern="carol").status is Status.NON_CONFORME


def test_content_cannot_forge_a_table_header(judge, result):
    # A file that is not read (dotted name) whose content imitates the dump framing.
    out = (":: family debian\n==> /etc/cron.d/piege.bak\n:: lstat root 644 regular file\n"
           ":: stat root 644 regular file\n|==> /etc/cron.d/legit\n|:: stat root 644 regular file\n"
           "|* * * * * root /usr/local/bin/faux.sh\n\n:: end 0\n")
    v = judge(CronEntryExists, {"pattern": "faux"}, crontabs=result(out))
    assert v.status is Status.NON_CONFORME
    assert [f.path for f in parse_dump(out).files] == ["/etc/cron.d/piege.bak"]


@pytest.mark.parametrize("stdout", [
    "",  # nothing at all: the probe always prints the family first
    "Bienvenue sur srv-web !\n",
    ":: family debian\n* * * * * root /usr/local/bin/backup.sh\n",  # content outside any file
    ":: family debian\n==> /etc/crontab\n:: lstat root 644 regular file\n:: stat root 644 regular file\n|x\n",
])
def test_garbage_or_cut_output_is_erreur(judge, result, stdout):
    v = judge(CronEntryExists, {"pattern": "backup"}, crontabs=result(stdout))
    assert v.status is Status.ERREUR


def test_truncated_output_without_match_is_erreur(judge, capture, result):
    full = capture("cron_dump_debian.txt").stdout
    cut = full[: full.index("==> /etc/cron.d/sauvegarde") + 60]
    v = judge(CronEntryExists, {"pattern": "mysqldump"}, crontabs=result(cut, truncated=True))
    assert v.status is Status.ERREUR


def test_invalid_regex_fails_at_validation():
    with pytest.raises(pydantic.ValidationError):
        CronEntryExists.Params(pattern="backup(")


def test_probe_reads_every_table_location():
    command = CronEntryExists().probes(CronEntryExists.Params(pattern="x"))["crontabs"].command
    assert "for f in /etc/crontab /etc/cron.d/* /var/spool/cron/crontabs/* /var/spool/cron/*;" in command
    assert command.startswith("if [ -r /etc/debian_version ]")


# -- schedule (issue #12): compared as cron reads it ------------------------------------------------

@pytest.mark.parametrize("a,b", [
    ("00 02 * * *", "0 2 * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
    ("@weekly", "0 0 * * 7"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 jan *"),
    ("0 8 * * mon-fri", "0 8 * * 1-5"),
    ("0 8 * * MON,Tue,wed,thu,FRI", "0 8 * * 1,2,3,4,5"),
    ("*/15 * * * *", "0,15,30,45 * * * *"),
    ("0-59/15 * * * *", "0,15,30,45 * * * *"),
    ("0 */6 * * *", "0 0,6,12,18 * * *"),
    ("0 1-10/3 * * *", "0 1,4,7,10 * * *"),
    ("0 0 * * 0-6", "0 0 * * *"),  # the day of week is « * » either way: every day
    ("0 0 1-31 * mon", "0 0 * * *"),  # both restricted: either matches, and one matches every day
    ("30 2 * jun-aug sun", "30 2 * 6,7,8 7"),
])
def test_same_schedules(a, b):
    assert same_schedule(a, b) and same_schedule(b, a)


@pytest.mark.parametrize("a,b", [
    ("0 2 * * *", "0 3 * * *"),
    ("@daily", "@hourly"),
    ("@reboot", "0 0 * * *"),
    ("*/15 * * * *", "*/20 * * * *"),
    ("0 0 1 * mon", "0 0 1 * *"),  # restricted day of month and week: the 1st OR Mondays
    ("0 0 */2 * mon", "0 0 * * mon"),  # not quite: « */2 » counts as a star, so odd days AND Mondays
    ("0 8 * * mon-fri", "0 8 * * 1-6"),
])
def test_different_schedules(a, b):
    assert not same_schedule(a, b)


def test_day_fields_star_rule():
    assert normalise("0 0 */2 * mon").days[0] == "and"
    assert normalise("0 0 1,15 * mon").days[0] == "or"


@pytest.mark.parametrize("bad", ["0 2 * *", "61 * * * *", "0 24 * * *", "0 0 0 * *", "@sometimes", "0 0 * * lun",
                                 "5-1 * * * *", "*/0 * * * *", "~ 2 * * *"])
def test_unreadable_schedules_are_refused(bad):
    with pytest.raises(ScheduleError):
        normalise(bad)
    with pytest.raises(pydantic.ValidationError):
        CronEntryExists.Params(pattern="x", schedule=bad)


def test_schedule_param_on_a_found_job(judge, capture):
    for schedule in ("30 2 * * *", "30 02 * * *", "30 2 1-31 * *", "30 2 * * 0-7"):
        v = debian(judge, capture, pattern=r"/usr/local/bin/sauvegarde\.sh", user="root", schedule=schedule)
        assert v.status is Status.CONFORME, schedule
    v = debian(judge, capture, pattern=r"/usr/local/bin/sauvegarde\.sh", schedule="0 2 * * *")
    assert v.status is Status.NON_CONFORME
    assert "n'est pas planifiée « 0 2 * * * »" in v.message and "30 2 * * *" in v.observed
    assert "0 2 * * *" in v.expected
    v = debian(judge, capture, pattern="demarrage", user="alice", schedule="@reboot")
    assert v.status is Status.CONFORME
    assert debian(judge, capture, pattern="demarrage", schedule="@daily").status is Status.NON_CONFORME
