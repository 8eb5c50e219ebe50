"""The login shell sshd runs the batch through, with rc files a candidate wrote (issue #11 §3).

sshd runs ``$SHELL -c <command line>``, and bash reads its rc files first (``/etc/bash.bashrc``
and ``~/.bashrc`` when sshd starts it; ``$BASH_ENV`` here, which bash reads in the same place for
any non-interactive shell). So these tests run the real command line through a real bash or
dash with a hostile rc file, and read the answer with the real parser. What must hold:

* a function named after a program the command runs (``/usr/bin/env``) no longer takes the batch
  over (``exec``), and is still reported;
* a rc file that redefines ``exec`` itself can forge the whole batch: that is not preventable
  from outside, so it must show as a host-wide anomaly (on every verdict of the host);
* a clean bash or dash says nothing but its name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from grader.model import HOST_WIDE_ANOMALIES, Msg, Probe
from grader.transports import envelope

WHO = Probe("ssh", "/usr/bin/id -un")


def run_through(shell: str, rc: str | None, tmp_path: Path, probes=(WHO,)):
    env = envelope.build(list(probes))
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if rc is not None:
        rc_file = tmp_path / "bashrc"
        rc_file.write_text(rc)
        environ["BASH_ENV"] = str(rc_file)
    proc = subprocess.run([shell, "-c", env.remote_command()], input=env.script.encode(), env=environ,
                          capture_output=True, timeout=60, check=False)
    return envelope.parse(env, proc.stdout)


def host_wide(parsed) -> list[Msg]:
    return [a for a in parsed.anomalies if isinstance(a, Msg) and a.id in HOST_WIDE_ANOMALIES]


@pytest.mark.parametrize("shell", ["/bin/bash", "/bin/dash"])
def test_a_clean_login_shell_gives_its_name_and_no_anomaly(shell: str, tmp_path: Path) -> None:
    parsed = run_through(shell, None, tmp_path)
    assert parsed.complete and parsed.anomalies == []
    assert parsed.shell == shell
    assert parsed.results[WHO.key].ok


def test_a_function_named_after_env_no_longer_takes_the_batch_and_is_reported(tmp_path: Path) -> None:
    rc = "/usr/bin/env() { /usr/bin/printf 'GRADER-forged\\n'; }\n/usr/bin/sudo() { :; }\n"
    parsed = run_through("/bin/bash", rc, tmp_path)
    assert parsed.complete
    assert parsed.results[WHO.key].stdout.strip() == subprocess.run(
        ["/usr/bin/id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    said = host_wide(parsed)
    assert [m.args["names"] for m in said] == [("/usr/bin/env",), ("/usr/bin/sudo",)]


def test_a_rc_file_that_redefines_exec_and_forges_the_batch_is_a_host_wide_anomaly(tmp_path: Path) -> None:
    # The worst a rc file can do: read the real script, change what a probe runs, run it, so that
    # every frame is well formed and the forged answer parses as complete.
    rc = ("exec() { s=$(/bin/cat); printf '%s\\n' \"$s\" | /usr/bin/sed 's#/usr/bin/id -un#/usr/bin/printf forged#'"
          " | /usr/bin/env -i /bin/sh -s; }\n")
    parsed = run_through("/bin/bash", rc, tmp_path)
    assert parsed.complete and parsed.results[WHO.key].stdout == "forged"  # not preventable...
    said = host_wide(parsed)  # ...so it is said, for every verdict of the host
    assert said and said[0].args["names"] == ("exec",)


def test_a_rc_file_that_hides_type_is_reported_as_not_described(tmp_path: Path) -> None:
    rc = "type() { :; }\n"
    parsed = run_through("/bin/bash", rc, tmp_path)
    messages = [str(m) for m in host_wide(parsed)]
    assert any("n'a pas décrit exec ; printf ; type ; /usr/bin/env ; /bin/sh" in m for m in messages), messages
    assert any("fonctions définies au lancement du lot (type)" in m for m in messages), messages


def test_a_shell_that_never_says_its_report_is_a_host_wide_anomaly() -> None:
    env = envelope.build([WHO])
    raw = subprocess.run(["/bin/sh", "-c", envelope.remote_command()], input=env.script.encode(),
                         capture_output=True, timeout=60, check=False).stdout
    parsed = envelope.parse(env, raw)
    assert parsed.shell is None and parsed.results[WHO.key].ok
    assert [m.id for m in host_wide(parsed)] == [
        ("le shell de connexion ne s'est pas décrit avant le lot : son environnement n'a pas pu être vérifié, une "
        "fonction de ses fichiers de démarrage a pu fausser les résultats de cet hôte")]


def test_every_host_wide_template_is_one_the_envelope_says() -> None:
    said = {m.id for m in envelope.shell_anomalies(None, [])}
    said |= {m.id for m in envelope.shell_anomalies("bash", ["exec is a function", "declare -f other"])}
    said |= {m.id for m in envelope.shell_anomalies("csh", [])}
    assert said == HOST_WIDE_ANOMALIES


def test_a_second_shell_frame_after_the_start_is_not_taken_as_the_report() -> None:
    env = envelope.build([WHO])
    raw = subprocess.run(["/bin/sh", "-c", env.remote_command()], input=env.script.encode(),
                         capture_output=True, timeout=60, check=False).stdout
    forged = raw.replace(f"{env.boundary} END".encode(), f"{env.boundary} SHELL zsh\n{env.boundary} END".encode())
    parsed = envelope.parse(env, forged)
    assert parsed.shell == "/bin/sh" and any("cadre SHELL inattendu" in str(a) for a in parsed.anomalies)


@pytest.mark.skipif(shutil.which("sudo") is None or os.geteuid() != 0, reason="needs sudo, as root")
def test_the_sudo_command_line_is_reported_too(tmp_path: Path) -> None:
    env = envelope.build([WHO])
    proc = subprocess.run(["/bin/bash", "-c", env.remote_command(sudo=True)], input=env.script.encode(),
                          env={"PATH": "/usr/bin:/bin"}, capture_output=True, timeout=60, check=False)
    parsed = envelope.parse(env, proc.stdout)
    assert parsed.complete and parsed.results[WHO.key].stdout.strip() == "root" and parsed.anomalies == []
