"""Issue #11 §3: configuration files padded with megabytes of comments (the dump strips them on the host).

A candidate is root on their VM and may pad a file so the line that matters comes after the
transport's output cap (:data:`grader.transports.envelope.CAP`). These tests run the checks' own
probe command with ``sh`` over a temporary directory standing for ``/`` (every ``/etc/...`` and
``/var/...`` path of the dump is moved under it), cap the output as the envelope does, and judge.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from checks.linux._parse import DumpError, Strip, dump_command, parse_dump
from checks.linux.cron import CronEntryExists
from checks.linux.rsyslog import RsyslogForward
from checks.linux.snmpd import SnmpdCommunity, SnmpdV3User
from grader.model import ProbeResult, Status
from grader.transports import envelope

PADDING = "# " + "commentaire de remplissage " * 3 + "\n"
MEGABYTES = 2


def padding(megabytes: int = MEGABYTES) -> str:
    return PADDING * (megabytes * 1024 * 1024 // len(PADDING) + 1)


def on_host(command: str, root: Path) -> ProbeResult:
    """Run a dump command with ``root`` standing for ``/``, capped as the envelope caps it."""
    moved = command.replace(" /etc/", f" {root}/etc/").replace(" /var/", f" {root}/var/")
    moved = moved.replace(" /usr/share/", f" {root}/usr/share/")
    env = {"PATH": envelope.SYSTEM_PATH, "LC_ALL": "C"}
    done = subprocess.run(["/bin/sh", "-c", moved], capture_output=True, env=env, timeout=60, check=False)
    stdout = done.stdout.replace(str(root).encode(), b"")
    return ProbeResult(key="k", transport="ssh", command=command,
                       stdout=stdout[:envelope.CAP].decode("utf-8", errors="replace"),
                       stderr=done.stderr[:envelope.CAP].decode("utf-8", errors="replace"),
                       exit_code=done.returncode, truncated=len(stdout) > envelope.CAP)


def write(root: Path, path: str, content: str, mode: int = 0o644) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8")
    os.chmod(target, mode)


def probe_of(check, params: dict) -> str:
    (probe,) = check.probes(check.Params(**params)).values()
    return probe.command


# --- rsyslog ------------------------------------------------------------------------------------------

RSYSLOG = {"target": "192.168.10.5", "port": 514, "protocol": "tcp"}


def rsyslog_verdict(judge, root: Path, target: str = "192.168.10.5"):
    params = {**RSYSLOG, "target": target}
    return judge(RsyslogForward, params, rsyslog=on_host(probe_of(RsyslogForward(), params), root))


@pytest.mark.parametrize("target,status", [("192.168.10.5", Status.CONFORME), ("10.9.9.9", Status.NON_CONFORME)])
def test_rsyslog_forward_after_megabytes_of_comments(judge, tmp_path, target, status):
    write(tmp_path, "/etc/rsyslog.conf", "$IncludeConfig /etc/rsyslog.d/*.conf\n\n" + padding()
          + "*.* @@192.168.10.5:514\n")
    v = rsyslog_verdict(judge, tmp_path, target)
    assert v.status is status
    if status is Status.CONFORME:
        lines = 2 + padding().count("\n") + 1
        assert f"/etc/rsyslog.conf:{lines}" in v.observed  # the file's own line number


def test_rsyslog_padding_in_an_included_file(judge, tmp_path):
    write(tmp_path, "/etc/rsyslog.conf", "$IncludeConfig /etc/rsyslog.d/*.conf\n")
    write(tmp_path, "/etc/rsyslog.d/00-padding.conf", padding(1) + "\n\n   \n")
    write(tmp_path, "/etc/rsyslog.d/50-default.conf", padding(2) + "# *.* @@10.0.0.1\n" + "*.* @@192.168.10.5\n")
    v = rsyslog_verdict(judge, tmp_path)
    assert v.status is Status.CONFORME
    v = rsyslog_verdict(judge, tmp_path, "10.0.0.1")
    assert v.status is Status.NON_CONFORME and "commenté" in v.observed  # a commented forward is kept as evidence


def test_rsyslog_comment_line_that_closes_a_block_comment_is_kept(judge, tmp_path):
    # rsyslog's lexer ends a /* */ comment at the first */, even on a line starting with #
    write(tmp_path, "/etc/rsyslog.conf", "/* début\n" + padding() + "# fin */\n*.* @@192.168.10.5:514\n")
    assert rsyslog_verdict(judge, tmp_path).status is Status.CONFORME


def test_rsyslog_stop_after_padding_is_reported_with_its_line_number(judge, tmp_path):
    write(tmp_path, "/etc/rsyslog.conf", padding() + "*.* stop\n" + padding(1) + "*.* @@192.168.10.5:514\n")
    v = rsyslog_verdict(judge, tmp_path)
    assert v.status is Status.NON_CONFORME
    assert f"/etc/rsyslog.conf:{padding().count(chr(10)) + 1} *.* stop" in str(v.observed)


# --- cron ---------------------------------------------------------------------------------------------

def cron_verdict(judge, root: Path, pattern: str):
    params = {"pattern": pattern, "user": "root"}
    return judge(CronEntryExists, params, crontabs=on_host(probe_of(CronEntryExists(), params), root))


@pytest.fixture
def debian_host(tmp_path):
    write(tmp_path, "/etc/debian_version", "12.5\n")
    (tmp_path / "var/spool/cron/crontabs").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize("pattern,status", [(r"sauvegarde\.sh", Status.CONFORME), ("absent", Status.NON_CONFORME)])
def test_cron_job_after_megabytes_of_comments(judge, debian_host, pattern, status):
    write(debian_host, "/etc/crontab", "SHELL=/bin/sh\n" + padding() + "30 2 * * * root /usr/local/bin/sauvegarde.sh\n")
    v = cron_verdict(judge, debian_host, pattern)
    assert v.status is status
    if status is Status.CONFORME:
        assert f"/etc/crontab:{1 + padding().count(chr(10)) + 1} [root] 30 2 * * *" in v.observed


def test_cron_commented_job_after_padding_is_still_evidence(judge, debian_host):
    write(debian_host, "/etc/cron.d/sauvegarde", padding() + "#30 2 * * * root /usr/local/bin/sauvegarde.sh\n")
    v = cron_verdict(judge, debian_host, r"sauvegarde\.sh")
    assert v.status is Status.NON_CONFORME and "commentaire" in v.observed
    assert f"/etc/cron.d/sauvegarde:{padding().count(chr(10)) + 1}" in v.observed


def test_cron_last_line_without_newline_is_still_seen_when_it_is_a_comment(judge, debian_host):
    # Debian's cron ignores a table whose last line lacks its newline, even when that line is a comment
    write(debian_host, "/etc/cron.d/sauvegarde",
          "30 2 * * * root /usr/local/bin/sauvegarde.sh\n" + padding() + "# fin sans retour à la ligne")
    v = cron_verdict(judge, debian_host, r"sauvegarde\.sh")
    assert v.status is Status.NON_CONFORME and "fin de ligne" in v.observed


# --- snmpd --------------------------------------------------------------------------------------------

def snmpd_verdict(judge, root: Path, name: str):
    params = {"community": name, "access": "ro"}
    return judge(SnmpdCommunity, params, snmpd=on_host(probe_of(SnmpdCommunity(), params), root))


@pytest.mark.parametrize("name,status", [("tssr-ro", Status.CONFORME), ("public", Status.NON_CONFORME)])
def test_snmpd_community_after_megabytes_of_comments(judge, debian_host, name, status):
    write(debian_host, "/etc/snmp/snmpd.conf", padding() + "rocommunity tssr-ro 192.168.10.0/24\n")
    write(debian_host, "/var/lib/snmp/snmpd.conf", padding(1))
    v = snmpd_verdict(judge, debian_host, name)
    assert v.status is status


@pytest.mark.parametrize("level,status", [("auth", Status.CONFORME), ("priv", Status.NON_CONFORME)])
def test_snmpd_v3_user_after_megabytes_of_comments(judge, debian_host, level, status):
    write(debian_host, "/etc/snmp/snmpd.conf", padding() + "rouser supervision auth\n")
    write(debian_host, "/var/lib/snmp/snmpd.conf", padding(1) + 'createUser supervision SHA "motdepasse1"\n')
    params = {"user": "supervision", "level": level}
    v = judge(SnmpdV3User, params, snmpd=on_host(probe_of(SnmpdV3User(), params), debian_host))
    assert v.status is status
    assert "motdepasse1" not in str(v.observed)


# --- the dump itself ----------------------------------------------------------------------------------

def test_a_file_of_comments_only_is_present_and_empty(tmp_path):
    write(tmp_path, "/etc/rsyslog.conf", padding())
    r = on_host(probe_of(RsyslogForward(), RSYSLOG), tmp_path)
    dump = parse_dump(r.stdout, truncated=r.truncated)
    f = dump.get("/etc/rsyslog.conf")
    assert f is not None and f.readable and f.stripped and not r.truncated
    assert "/etc/rsyslog.conf" not in dump.absent
    assert all(not line.strip() for line in f.lines or [])
    assert ":: stripped comments" in r.stdout  # the raw output says it, for the jury


def test_content_cannot_pass_for_line_numbers(tmp_path):
    write(tmp_path, "/etc/rsyslog.conf", "# x\n5\n|7\n:: end 0\n==> /etc/faux\n")
    r = on_host(probe_of(RsyslogForward(), RSYSLOG), tmp_path)
    f = parse_dump(r.stdout).get("/etc/rsyslog.conf")
    assert f is not None and f.numbered() == [(1, ""), (2, "5"), (3, "|7"), (4, ":: end 0"), (5, "==> /etc/faux")]


def test_unreadable_file_still_ends_with_the_reading_command_code(tmp_path):
    if os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists():
        pytest.skip("needs root and setpriv to read as another account")
    root = Path(tempfile.mkdtemp())
    try:
        root.chmod(0o755)
        write(root, "/etc/rsyslog.conf", padding(1) + "*.* @@192.168.10.5\n", mode=0o600)
        (root / "etc").chmod(0o755)
        command = probe_of(RsyslogForward(), RSYSLOG).replace(" /etc/", f" {root}/etc/")
        done = subprocess.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               "/bin/sh", "-c", command], capture_output=True, text=True, timeout=60,
                              env={"PATH": envelope.SYSTEM_PATH, "LC_ALL": "C"}, check=False)
    finally:
        shutil.rmtree(root)
    f = parse_dump(done.stdout.replace(str(root), "")).get("/etc/rsyslog.conf")
    assert f is not None and f.stripped and f.complete and f.read_rc == 2 and not f.readable


# --- the parser ---------------------------------------------------------------------------------------

HEAD = "==> /etc/x.conf\n:: lstat root 644 regular file\n:: stat root 644 regular file\n"


def test_parse_stripped_file_keeps_the_file_line_numbers():
    dump = parse_dump(HEAD + ":: stripped comments\n1\n|a\n2\n|b\n40\n|c\n41\n|\n\n:: end 0\n")
    f = dump.get("/etc/x.conf")
    assert f is not None and f.stripped and f.readable and f.final_newline
    assert f.numbered() == [(1, "a"), (2, "b"), (3, ""), (40, "c"), (41, "")]  # one empty line per gap
    assert f.number(3) == 40 and f.number(len(f.lines or []) - 1) == 41


def test_parse_stripped_file_without_final_newline_and_unstripped_numbers():
    f = parse_dump(HEAD + ":: stripped comments\n7\n|# fin\n:: end 0\n").get("/etc/x.conf")
    assert f is not None and not f.final_newline and f.numbered() == [(1, ""), (7, "# fin")]
    g = parse_dump(HEAD + "|a\n|b\n\n:: end 0\n").get("/etc/x.conf")
    assert g is not None and not g.stripped and g.numbered() == [(1, "a"), (2, "b")] and g.number(1) == 2


def test_parse_stripped_empty_file_and_read_failure():
    f = parse_dump(HEAD + ":: stripped comments\n:: end 0\n").get("/etc/x.conf")
    assert f is not None and f.readable and f.lines == [] and f.final_newline
    f = parse_dump(HEAD + ":: stripped comments\n:: end 2\n").get("/etc/x.conf")
    assert f is not None and f.stripped and f.complete and not f.readable


@pytest.mark.parametrize("text", [
    HEAD + "3\n|a\n:: end 0\n",                                   # a number in a file not stripped
    HEAD + ":: stripped comments\n|a\n:: end 0\n",                # a line without its number
    HEAD + ":: stripped comments\n3\n|a\n3\n|b\n:: end 0\n",      # numbers must grow
    HEAD + ":: stripped comments\n3\n4\n|a\n:: end 0\n",          # two numbers in a row
    HEAD + ":: stripped comments\n3\n:: end 0\n",                 # a number without its line
    HEAD + ":: stripped comments\n3\n==> /etc/y.conf\n",          # a number without its line
    HEAD + "|a\n:: stripped comments\n:: end 0\n",                # the marker after content
    HEAD + ":: stripped comments\n:: stripped comments\n:: end 0\n",
    HEAD + ":: stripped comments\n:: stat root 644 regular file\n:: end 0\n",
    "3\n|a\n",                                                    # outside any file
])
def test_parse_stripped_framing_is_strict(text):
    with pytest.raises(DumpError):
        parse_dump(text)


def test_parse_stripped_cut_after_a_number_is_incomplete_when_truncated():
    f = parse_dump(HEAD + ":: stripped comments\n1\n|a\n7\n", truncated=True).get("/etc/x.conf")
    assert f is not None and not f.complete and f.numbered() == [(1, "a")]


@pytest.mark.parametrize("strip", [Strip(keep="a'b"), Strip(comment=""), Strip(comment="#\n")])
def test_unsafe_strip_expressions_are_refused(strip):
    with pytest.raises(ValueError):
        dump_command(["/etc/x.conf"], strip=strip)


def test_every_configuration_dump_strips_comments():
    for check, params in ((RsyslogForward(), RSYSLOG), (CronEntryExists(), {"pattern": "x"}),
                          (SnmpdCommunity(), {"community": "public"})):
        assert ":: stripped comments" in probe_of(check, params)
