"""linux.user_in_groups: ``getent passwd`` and ``id -Gn`` captured on Debian 12.

alice was made with ``useradd -m -s /bin/bash -G adm,webadmin alice`` next to an empty
group ``webadmins``; svc-backup with ``useradd -M -s /usr/sbin/nologin svc-backup``.
"""

from __future__ import annotations

import pydantic
import pytest

from checks.linux.accounts import UserInGroups, same_shell
from grader.model import Status


def account(judge, capture, user, **params):
    return judge(UserInGroups, {"user": user, **params}, passwd=capture(f"getent_passwd_{user}.txt"),
                 groups=capture(f"id_{user}.txt"))


def test_member_of_expected_groups(judge, capture):
    v = account(judge, capture, "alice", groups=["webadmin", "adm"], shell="/bin/bash")
    assert v.status is Status.CONFORME
    assert "alice adm webadmin" in v.observed and "/bin/bash" in v.observed


def test_group_name_prefix_does_not_count(judge, capture):
    # alice is in "webadmin", the rubric asks for "webadmins": substring matching would lie.
    v = account(judge, capture, "alice", groups=["webadmins"])
    assert v.status is Status.NON_CONFORME and "webadmins" in v.message


def test_primary_group_counts(judge, capture):
    assert account(judge, capture, "alice", groups=["alice"]).status is Status.CONFORME


def test_shell_forms(judge, capture):
    for shell in ("bash", "/bin/bash", "/usr/bin/bash"):
        assert account(judge, capture, "alice", shell=shell).status is Status.CONFORME
    for shell in ("/usr/sbin/nologin", "/sbin/nologin", "nologin"):
        assert account(judge, capture, "svc-backup", shell=shell).status is Status.CONFORME
    v = account(judge, capture, "svc-backup", shell="/bin/bash")
    assert v.status is Status.NON_CONFORME and "/usr/sbin/nologin" in v.message
    assert not same_shell("/bin/sh", "/bin/bash") and not same_shell("bash", "/bin/rbash")


def test_missing_user_is_non_conforme(judge, capture):
    v = account(judge, capture, "nosuchuser", groups=["sudo"])
    assert v.status is Status.NON_CONFORME and "inexistant" in v.observed


def test_existence_only(judge, capture):
    assert account(judge, capture, "root").status is Status.CONFORME


def test_redhat_style_entry(judge, result):
    # RHEL 9: useradd -G wheel tssr; the nologin shell lives in /sbin there.
    v = judge(UserInGroups, {"user": "tssr", "groups": ["wheel"], "shell": "/sbin/nologin"},
              passwd=result("tssr:x:1000:1000:TSSR:/home/tssr:/sbin/nologin\n"), groups=result("tssr wheel\n"))
    assert v.status is Status.CONFORME


def test_group_without_name_is_tolerated(judge, result):
    # id(1) prints the number and exits 1 when a group id has no name.
    v = judge(UserInGroups, {"user": "bob", "groups": ["webadmin"]},
              passwd=result("bob:x:1005:1005::/home/bob:/bin/bash\n"),
              groups=result("bob webadmin 4242\n", "id: cannot find name for group ID 4242\n", 1))
    assert v.status is Status.CONFORME


@pytest.mark.parametrize("passwd,groups", [
    (("", "", 127), ("", "", 0)),  # getent missing
    (("alice:x:1001:1003::/home/alice:/bin/bash\n", "", 0), ("", "id: 'alice': no such user\n", 1)),  # inconsistent
    (("Bienvenue\n", "", 0), ("alice\n", "", 0)),  # garbage
    (("root:x:0:0:root:/root:/bin/bash\n", "", 0), ("root\n", "", 0)),  # another account than asked
    (("alice:x:1001:1003::/home/alice:/bin/bash\n", "", 0), ("", "", 0)),  # empty groups
    (("", "", 1), ("", "", 1)),  # getent: unknown database
])
def test_broken_outputs_are_erreur(judge, result, passwd, groups):
    v = judge(UserInGroups, {"user": "alice", "groups": ["webadmin"]}, passwd=result(*passwd), groups=result(*groups))
    assert v.status is Status.ERREUR


@pytest.mark.parametrize("params", [{"user": "0"}, {"user": "1000"}, {"user": "a b"}, {"user": "-n"},
                                    {"user": "alice", "groups": ["web admins"]}, {"user": "alice", "shell": ""}])
def test_params_are_validated(params):
    with pytest.raises(pydantic.ValidationError):
        UserInGroups.Params(**params)


def test_probes():
    probes = UserInGroups().probes(UserInGroups.Params(user="alice"))
    assert probes["passwd"].command == "/usr/bin/getent passwd -- alice"
    assert probes["groups"].command == "/usr/bin/id -Gn -- alice"
