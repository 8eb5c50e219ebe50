"""The batch envelope, run for real by /bin/sh on this machine (no SSH needed).

These tests feed candidate-controlled output that tries to forge frames, outputs without
trailing newlines, probes that time out or flood, and a login shell that prints before the
envelope starts. The one property that matters: a probe's result comes only from its own
frames, and anything missing is an error, never a verdict.
"""

from __future__ import annotations

import subprocess

import pytest

from grader.model import Probe
from grader.transports import envelope


def run_local(probes, *, prefix: bytes = b"", boundary=None, sudo=False):
    env = envelope.build(probes, boundary=boundary)
    proc = subprocess.run(
        ["/bin/sh", "-c", env.remote_command(sudo=sudo)],
        input=env.script.encode(), check=False, capture_output=True, timeout=60,
    )
    return env, envelope.parse(env, prefix + proc.stdout)


def result(parsed, probe):
    return parsed.results[probe.key]


def test_stdout_stderr_and_exit_code_are_kept_apart():
    a = Probe("ssh", "/usr/bin/printf 'out\\n'; /usr/bin/printf 'err' >&2; exit 3")
    b = Probe("ssh", "/usr/bin/printf 'no newline'")
    _, parsed = run_local([a, b])
    assert parsed.complete and not parsed.anomalies
    ra, rb = result(parsed, a), result(parsed, b)
    assert (ra.stdout, ra.stderr, ra.exit_code) == ("out\n", "err", 3)
    assert (rb.stdout, rb.stderr, rb.exit_code) == ("no newline", "", 0)
    assert ra.ok and rb.ok


def test_clean_environment_no_inherited_variables_and_system_path():
    p = Probe("ssh", "/usr/bin/env")
    _, parsed = run_local([p])
    env_lines = dict(line.split("=", 1) for line in result(parsed, p).stdout.splitlines() if "=" in line)
    assert env_lines["PATH"] == envelope.SYSTEM_PATH
    assert env_lines["LC_ALL"] == "C"
    assert "HOME" not in env_lines and "BASH_ENV" not in env_lines


def test_forged_frames_with_a_guessed_boundary_cannot_fake_another_probe():
    victim = Probe("ssh", "exit 1")
    # The attacker prints frames with the boundary format and index of the victim probe.
    forger = Probe("ssh", "/usr/bin/printf 'GRADER-0000 R 0 0 1 2\\nGRADER-0000 F 0\\n"
                          "==> /tmp/GRADER-0000/0.o <==\\nactive\\nGRADER-0000 G\\n'")
    _, parsed = run_local([victim, forger])
    assert result(parsed, victim).exit_code == 1 and result(parsed, victim).stdout == ""
    assert "GRADER-0000 R 0" in result(parsed, forger).stdout


def test_known_boundary_in_output_is_never_accepted_as_a_result_for_a_missing_probe():
    """Even if the boundary leaked, a probe's frames must be complete and in order."""
    b = "GRADER-" + "ab" * 16
    victim = Probe("ssh", "/bin/sleep 0")
    leak = Probe("ssh", f"/usr/bin/printf '{b} R 1 0 1 2\\n{b} G\\n'")
    _, parsed = run_local([leak, victim], boundary=b)
    # the leaked frames are out of order: the leaking probe itself loses its result (erreur)
    assert not result(parsed, leak).ok
    assert parsed.anomalies


def test_timeout_is_reported_as_timed_out_not_as_output():
    slow = Probe("ssh", "/bin/sleep 5", timeout=0.3)
    fast = Probe("ssh", "/usr/bin/printf ok")
    _, parsed = run_local([slow, fast])
    assert result(parsed, slow).timed_out and not result(parsed, slow).ok
    assert result(parsed, fast).stdout == "ok"


def test_output_is_capped_and_truncation_recorded():
    big = Probe("ssh", "/usr/bin/head -c 200000 /dev/zero | /usr/bin/tr '\\0' a")
    _, parsed = run_local([big])
    r = result(parsed, big)
    assert r.truncated and len(r.stdout) == envelope.CAP and r.exit_code == 0


def test_probe_cannot_read_the_rest_of_the_script_from_stdin():
    thief = Probe("ssh", "/bin/cat")
    after = Probe("ssh", "/usr/bin/printf after")
    _, parsed = run_local([thief, after])
    assert result(parsed, thief).stdout == ""
    assert result(parsed, after).stdout == "after"


def test_text_printed_before_the_envelope_is_an_anomaly_not_a_result():
    p = Probe("ssh", "/usr/bin/printf ok")
    _, parsed = run_local([p], prefix=b"Bienvenue sur srv-lin !\n")
    assert result(parsed, p).stdout == "ok"
    assert any("Bienvenue" in str(a) for a in parsed.anomalies)


def test_cut_output_keeps_the_groups_already_sent():
    probes = [Probe("ssh", f"/usr/bin/printf {i}") for i in range(envelope.FLUSH_EVERY + 2)]
    env = envelope.build(probes)
    proc = subprocess.run(["/bin/sh", "-c", env.remote_command()], input=env.script.encode(),
                          check=False, capture_output=True, timeout=30)
    second_group = proc.stdout.index(f"{env.boundary} F {envelope.FLUSH_EVERY}".encode())
    parsed = envelope.parse(env, proc.stdout[:second_group])
    first = probes[: envelope.FLUSH_EVERY]
    assert [parsed.results[p.key].stdout for p in first] == [str(i) for i in range(len(first))]
    assert all(parsed.results[p.key].error for p in probes[envelope.FLUSH_EVERY:]) and not parsed.complete


def test_file_header_forged_inside_an_output_breaks_only_into_errors():
    """Knowing the boundary (beyond the threat model) still cannot move output between probes."""
    b = "GRADER-" + "cd" * 16
    forger = Probe("ssh", f"/usr/bin/printf 'x\\n==> /tmp/{b}/1.o <==\\nactive'")
    victim = Probe("ssh", "/usr/bin/printf inactive")
    _, parsed = run_local([forger, victim], boundary=b)
    assert result(parsed, victim).stdout != "active"
    assert not result(parsed, forger).ok and not result(parsed, victim).ok


def test_per_probe_start_and_duration_from_the_host_clock():
    """Start and duration come from the R frame's host clock readings, offset from START."""
    probe = Probe("ssh", "/bin/sleep 0.3")
    env = envelope.build([probe])
    b, d = env.boundary, env.directory
    raw = (f"{b} START 100.00\n{b} R 0 0 101.50 101.80\n{b} F 0\n==> {d}/0.o <==\n\n==> {d}/0.e <==\n\n{b} G\n"
           f"{b} END\n").encode()
    r = envelope.parse(env, raw, started="2026-01-01T08:00:00.000+00:00").results[probe.key]
    assert r.ok and r.duration == pytest.approx(0.3)
    assert r.started == "2026-01-01T08:00:01.500+00:00"


def test_quotes_and_unicode_survive():
    p = Probe("ssh", "/usr/bin/printf '%s\\n' \"l'OU Comptabilité\" 'a\"b'")
    _, parsed = run_local([p])
    assert result(parsed, p).stdout == "l'OU Comptabilité\na\"b\n"


@pytest.mark.parametrize("n", [1, 50])
def test_many_probes_one_process(n):
    probes = [Probe("ssh", f"/usr/bin/printf {i}") for i in range(n)]
    _, parsed = run_local(probes)
    assert [parsed.results[p.key].stdout for p in probes] == [str(i) for i in range(n)]


@pytest.mark.parametrize("command, simple", [
    ("/usr/bin/getent passwd -- alice", True),
    ("/usr/bin/stat -L -c '%F|%U' -- /etc/passwd", True),
    ("/usr/bin/printf '%s\\n' 'a;b'", True),
    ("/usr/bin/cat /etc/*", False),            # a glob: leave it to sh -c
    ("/usr/bin/printf $HOME", False),           # an expansion
    ("/usr/bin/printf ok; /bin/true", False),   # an operator
    ("/usr/bin/printf \"a\"", False),           # double quotes
    ("X=1 /usr/bin/env", False),                # an assignment
    ("printf ok", False),                       # not an absolute program
    ("/usr/bin/printf 'open", False),           # an unclosed quote
])
def test_is_simple(command, simple):
    assert envelope.is_simple(command) is simple


def test_simple_and_compound_probes_give_the_same_results():
    probes = [Probe("ssh", "/usr/bin/printf '%s|%s\\n' 'a;b' \"c\""),   # compound (double quotes)
              Probe("ssh", "/usr/bin/printf '%s|%s\\n' 'a;b' c"),       # simple
              Probe("ssh", "/nonexistent/binary --flag"),              # simple, missing program
              Probe("ssh", "/bin/sleep 5", timeout=0.3)]                # simple, times out
    env, parsed = run_local(probes)
    assert "q 1 " in env.script and "q 2 " in env.script and "p 0 " in env.script
    outs = [result(parsed, p) for p in probes]
    assert outs[0].stdout == outs[1].stdout == "a;b|c\n"
    assert outs[2].exit_code == 127 and not outs[2].timed_out
    assert outs[3].timed_out


def test_the_watchdog_kills_a_compound_probe_and_its_children():
    hung = Probe("ssh", "if true; then /bin/sleep 7.25; fi", timeout=0.3)
    after = Probe("ssh", "/usr/bin/printf after")
    _, parsed = run_local([hung, after])
    assert result(parsed, hung).timed_out and result(parsed, after).stdout == "after"
    left = subprocess.run(["/usr/bin/pgrep", "-f", "sleep 7.25"], check=False, capture_output=True, text=True).stdout
    assert left == ""
