"""linux.file_exists and linux.file_contains: ``stat`` and ``cat`` captured on Debian 12."""

from __future__ import annotations

import pydantic
import pytest

from checks.linux.files import FileContains, FileExists
from grader.model import Status


def stat(judge, capture, name, **params):
    return judge(FileExists, {"path": "/x", **params}, stat=capture(f"stat_{name}.txt"))


def test_file_with_owner_and_mode(judge, capture):
    v = stat(judge, capture, "sshd_config", owner="root", group="root", mode="644")
    assert v.status is Status.CONFORME and "root:root" in v.observed and "644" in v.observed
    assert stat(judge, capture, "sshd_config", mode="0644").status is Status.CONFORME
    assert stat(judge, capture, "sshd_config", owner="0", group="0").status is Status.CONFORME


def test_wrong_mode_owner_group(judge, capture):
    v = stat(judge, capture, "sshd_config", mode="600")
    assert v.status is Status.NON_CONFORME and "644" in v.message
    assert stat(judge, capture, "shadow", group="root").status is Status.NON_CONFORME
    assert stat(judge, capture, "shadow", owner="root", group="shadow", mode="0640").status is Status.CONFORME
    assert stat(judge, capture, "index_html", owner="www-data").status is Status.NON_CONFORME


def test_directory_and_special_bits(judge, capture):
    assert stat(judge, capture, "crontabs_dir", kind="directory", group="crontab",
                mode="1730").status is Status.CONFORME
    # the sticky bit counts: 1730 is not 730
    assert stat(judge, capture, "crontabs_dir", kind="directory", mode="730").status is Status.NON_CONFORME
    # a directory is not a file, a file is not a directory
    assert stat(judge, capture, "crontabs_dir").status is Status.NON_CONFORME
    assert stat(judge, capture, "sshd_config", kind="directory").status is Status.NON_CONFORME


def test_symlink_is_followed(judge, capture):
    # /etc/localtime -> /usr/share/zoneinfo/Etc/UTC: what programs opening it get.
    assert stat(judge, capture, "symlink_to_file", owner="root").status is Status.CONFORME


def test_missing_paths_are_non_conforme(judge, capture):
    assert stat(judge, capture, "missing").status is Status.NON_CONFORME
    assert stat(judge, capture, "not_a_dir").status is Status.NON_CONFORME


@pytest.mark.parametrize("stdout,stderr,code", [
    ("", "", 0),
    ("Bienvenue\n", "", 0),
    ("regular file|root|root|644|1|0|0\nregular file|root|root|600|1|0|0\n", "", 0),
    ("regular file|root|root|rw-r--r--|1|0|0\n", "", 0),
    ("", "/bin/sh: 1: /usr/bin/stat: not found\n", 127),
    ("", "/usr/bin/stat: cannot statx '/x': Permission denied\n", 1),
])
def test_garbage_and_failures_are_erreur(judge, result, stdout, stderr, code):
    assert judge(FileExists, {"path": "/x"}, stat=result(stdout, stderr, code)).status is Status.ERREUR


@pytest.mark.parametrize("params", [{"path": "etc/passwd"}, {"path": "/x", "mode": "888"}, {"path": "/x", "mode": "rw"},
                                    {"path": "/x", "mode": "75"}, {"path": "/x", "kind": "socket"},
                                    {"path": "/x", "owner": "a b"}, {"path": "/x\n/y"}])
def test_file_exists_params_are_validated(params):
    with pytest.raises(pydantic.ValidationError):
        FileExists.Params(**params)


def test_stat_probe_quotes_the_path():
    probe = FileExists().probes(FileExists.Params(path="/srv/it's here"))["stat"]
    assert probe.command == "/usr/bin/stat -L -c '%F|%U|%G|%a|%s|%u|%g' -- '/srv/it'\"'\"'s here'"


# -- file_contains --------------------------------------------------------------------


def contains(judge, capture, pattern, name="cat_sshd_config.txt", **params):
    return judge(FileContains, {"path": "/etc/ssh/sshd_config", "pattern": pattern, **params},
                 content=capture(name))


def test_active_line_found(judge, capture):
    v = contains(judge, capture, r"^Include\s+/etc/ssh/sshd_config\.d/\*\.conf")
    assert v.status is Status.CONFORME and "ligne 12" in v.observed


def test_directive_only_in_a_comment(judge, capture):
    # Debian's sshd_config ships "#PermitRootLogin prohibit-password": commented out.
    v = contains(judge, capture, r"PermitRootLogin\s+prohibit-password")
    assert v.status is Status.NON_CONFORME and "commentaire" in v.observed
    v = contains(judge, capture, r"PermitRootLogin\s+prohibit-password", ignore_comments=False)
    assert v.status is Status.CONFORME


def test_absent_directive(judge, capture):
    v = contains(judge, capture, r"^\s*PermitRootLogin\s+no\b")
    assert v.status is Status.NON_CONFORME


def test_missing_file_and_directory(judge, capture):
    assert contains(judge, capture, "x", name="cat_missing.txt").status is Status.NON_CONFORME
    assert contains(judge, capture, "x", name="cat_directory.txt").status is Status.NON_CONFORME


def test_other_comment_prefixes(judge, result):
    ini = "[PHP]\n; display_errors = On\ndisplay_errors = Off\n;memory_limit = 1G\n"
    params = {"path": "/etc/php/8.2/apache2/php.ini", "comment_prefixes": [";"]}
    v = judge(FileContains, {**params, "pattern": r"^display_errors\s*=\s*Off"}, content=result(ini))
    assert v.status is Status.CONFORME
    v = judge(FileContains, {**params, "pattern": r"memory_limit\s*=\s*1G"}, content=result(ini))
    assert v.status is Status.NON_CONFORME


def test_indented_comment_is_a_comment(judge, result):
    text = "<VirtualHost *:80>\n    # Redirect permanent / https://intranet.tssr.lan/\n</VirtualHost>\n"
    v = judge(FileContains, {"path": "/etc/apache2/sites-available/000-default.conf", "pattern": "Redirect permanent"},
              content=result(text))
    assert v.status is Status.NON_CONFORME


def test_carriage_return_does_not_split_lines(judge, result):
    # "\r" inside a line must not create a new line starting with the directive.
    text = "# harmless comment\rPermitRootLogin no\n"
    v = judge(FileContains, {"path": "/etc/ssh/sshd_config", "pattern": r"^PermitRootLogin no"}, content=result(text))
    assert v.status is Status.NON_CONFORME


def test_empty_and_truncated(judge, result):
    params = {"path": "/etc/hosts", "pattern": "srv-web"}
    assert judge(FileContains, params, content=result("")).status is Status.NON_CONFORME
    assert judge(FileContains, params, content=result("a\n" * 10, truncated=True)).status is Status.ERREUR
    assert judge(FileContains, params, content=result("10.0.0.1 srv-web\n", truncated=True)).status is Status.CONFORME


def test_read_failure_is_erreur(judge, result):
    params = {"path": "/etc/hosts", "pattern": "srv-web"}
    assert judge(FileContains, params, content=result("", "cat: /etc/hosts: Permission denied\n", 1)).status \
        is Status.ERREUR
    assert judge(FileContains, params, content=result("", "not found", 127)).status is Status.ERREUR


@pytest.mark.parametrize("params", [{"pattern": "("}, {"pattern": "[a-"}, {"pattern": ""},
                                    {"pattern": "x", "comment_prefixes": [""]}, {"pattern": "x", "path": "hosts"}])
def test_invalid_regex_fails_at_validation(params):
    with pytest.raises(pydantic.ValidationError):
        FileContains.Params(**{"path": "/etc/hosts", **params})
