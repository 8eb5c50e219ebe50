"""linux.sshd_setting: ``sshd -T`` captured on Debian 12 (OpenSSH 9.2p1)."""

from __future__ import annotations

import pydantic
import pytest

from checks.linux.sshd import SshdSetting
from grader.model import Status


def default(judge, capture, setting, expected):
    return judge(SshdSetting, {"setting": setting, "expected": expected}, sshd=capture("sshd_T_debian_default.txt"))


def hardened(judge, capture, setting, expected):
    return judge(SshdSetting, {"setting": setting, "expected": expected}, sshd=capture("sshd_T_hardened.txt"))


def test_prohibit_password_and_without_password_are_synonyms(judge, capture):
    # OpenSSH 9.2 prints the old spelling for the default value.
    v = default(judge, capture, "PermitRootLogin", "prohibit-password")
    assert v.status is Status.CONFORME and v.observed == "permitrootlogin without-password"
    assert default(judge, capture, "permitrootlogin", "without-password").status is Status.CONFORME
    assert default(judge, capture, "PermitRootLogin", "no").status is Status.NON_CONFORME


def test_values_compare_case_insensitively(judge, capture):
    assert default(judge, capture, "PasswordAuthentication", "Yes").status is Status.CONFORME
    assert default(judge, capture, "X11Forwarding", "no").status is Status.NON_CONFORME


def test_included_file_applies_and_bak_file_does_not(judge, capture):
    # 10-hardening.conf (PermitRootLogin no) is included, 99-old.conf.bak (yes) is not:
    # sshd itself resolved it, the judge only reads the result.
    assert hardened(judge, capture, "PermitRootLogin", "no").status is Status.CONFORME
    assert hardened(judge, capture, "PasswordAuthentication", "no").status is Status.CONFORME


def test_multi_valued_settings_compare_as_sets(judge, capture):
    assert hardened(judge, capture, "AllowUsers", "admin tssr").status is Status.CONFORME
    assert hardened(judge, capture, "AllowUsers", "tssr admin").status is Status.CONFORME
    v = hardened(judge, capture, "AllowUsers", "admin")
    assert v.status is Status.NON_CONFORME and "allowusers tssr" in v.observed
    assert default(judge, capture, "AcceptEnv", "LANG LC_*").status is Status.CONFORME
    assert default(judge, capture, "ListenAddress", "0.0.0.0:22").status is Status.NON_CONFORME


def test_durations_and_spacing(judge, capture):
    assert default(judge, capture, "LoginGraceTime", "2m").status is Status.CONFORME
    assert default(judge, capture, "LoginGraceTime", "120").status is Status.CONFORME
    assert default(judge, capture, "LoginGraceTime", "1m").status is Status.NON_CONFORME
    assert default(judge, capture, "Subsystem", "sftp  /usr/lib/openssh/sftp-server").status is Status.CONFORME


def test_unknown_setting_is_erreur(judge, capture):
    v = default(judge, capture, "PermitRootLogn", "no")
    assert v.status is Status.ERREUR and "inconnu" in v.message


@pytest.mark.parametrize("name,words", [
    ("sshd_T_bad_value.txt", 'unsupported option "maybe"'),
    ("sshd_T_bad_option.txt", "Bad configuration option: PermitRootLogn"),
    ("sshd_T_no_privsep_dir.txt", "Missing privilege separation directory"),
])
def test_sshd_refusing_its_configuration_is_erreur_with_its_message(judge, capture, name, words):
    v = judge(SshdSetting, {"setting": "PermitRootLogin", "expected": "no"}, sshd=capture(name))
    assert v.status is Status.ERREUR and words in v.message


@pytest.mark.parametrize("stdout,stderr,code", [
    ("", "", 0),
    ("permitrootlogin no\n", "", 0),  # a lone line is not sshd -T's output
    ("Bienvenue !\nport 22\n", "", 0),
    ("", "/bin/sh: 1: /usr/sbin/sshd: not found\n", 127),
])
def test_garbage_is_erreur(judge, result, stdout, stderr, code):
    v = judge(SshdSetting, {"setting": "PermitRootLogin", "expected": "no"}, sshd=result(stdout, stderr, code))
    assert v.status is Status.ERREUR


@pytest.mark.parametrize("params", [{"setting": "Permit Root", "expected": "no"}, {"setting": "x;id", "expected": "no"},
                                    {"setting": "PermitRootLogin", "expected": "  "}])
def test_params_are_validated(params):
    with pytest.raises(pydantic.ValidationError):
        SshdSetting.Params(**params)


def test_one_shared_probe():
    a = SshdSetting().probes(SshdSetting.Params(setting="PermitRootLogin", expected="no"))["sshd"]
    b = SshdSetting().probes(SshdSetting.Params(setting="Port", expected="22"))["sshd"]
    assert a == b and a.command == "/usr/sbin/sshd -T"


def test_docstring_says_what_sshd_t_shows():
    doc = " ".join((SshdSetting.__doc__ or "").split())
    assert "next start" in doc and "on disk" in doc
