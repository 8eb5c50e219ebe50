"""linux.package_installed: dpkg (captured on Debian 12) and rpm (captured with rpm 4.18)."""

from __future__ import annotations

import pydantic
import pytest

from checks.linux.packages import PackageInstalled
from grader.model import Status


def test_installed_debian_package_is_conforme(judge, capture):
    v = judge(PackageInstalled, {"package": "apache2"}, pkg=capture("dpkg_apache2_ii.txt"))
    assert v.status is Status.CONFORME
    assert "2.4.71-1~deb12u1" in v.observed


def test_removed_package_with_config_left_rc_is_not_installed(judge, capture):
    v = judge(PackageInstalled, {"package": "at"}, pkg=capture("dpkg_at_rc.txt"))
    assert v.status is Status.NON_CONFORME
    assert "rc" in v.observed and "configuration" in v.observed


def test_unknown_package_is_non_conforme(judge, capture):
    r = capture("dpkg_nginx_unknown.txt")
    assert r.exit_code == 1 and "no packages found" in r.stderr
    v = judge(PackageInstalled, {"package": "nginx"}, pkg=r)
    assert v.status is Status.NON_CONFORME


def test_known_but_never_installed_un_is_non_conforme(judge, capture):
    v = judge(PackageInstalled, {"package": "apache2-doc"}, pkg=capture("dpkg_apache2_doc_un.txt"))
    assert v.status is Status.NON_CONFORME


def test_architecture_qualified_name(judge, capture):
    v = judge(PackageInstalled, {"package": "libc6:amd64"}, pkg=capture("dpkg_libc6_amd64.txt"))
    assert v.status is Status.CONFORME
    # the same output never proves that the i386 flavour is installed
    v = judge(PackageInstalled, {"package": "libc6:i386"}, pkg=capture("dpkg_libc6_amd64.txt"))
    assert v.status is not Status.CONFORME


@pytest.mark.parametrize("abbrev", ["iU ", "iF ", "iH ", "iiR", "pn ", "iW ", "it "])
def test_half_installed_states_are_not_installed(judge, result, abbrev):
    # States from dpkg-query(1) "db:Status-Abbrev": unpacked, half-configured, half-installed,
    # reinstall-required, purged, triggers-awaited, triggers-pending.
    v = judge(PackageInstalled, {"package": "apache2"}, pkg=result(f"{abbrev}|apache2|2.4.71-1~deb12u1|amd64\n"))
    assert v.status is Status.NON_CONFORME


def test_held_package_is_installed(judge, result):
    v = judge(PackageInstalled, {"package": "apache2"}, pkg=result("hi |apache2|2.4.71-1~deb12u1|amd64\n"))
    assert v.status is Status.CONFORME


def test_rpm_installed_and_missing(judge, capture):
    v = judge(PackageInstalled, {"package": "httpd"}, pkg=capture("rpm_httpd_installed.txt"))
    assert v.status is Status.CONFORME and "2.4.57-5.el9" in v.observed
    r = capture("rpm_nginx_missing.txt")
    assert r.stdout.strip() == "package nginx is not installed" and r.exit_code == 1
    v = judge(PackageInstalled, {"package": "nginx"}, pkg=r)
    assert v.status is Status.NON_CONFORME and v.observed == "package nginx is not installed"  # rpm's words, as read


def test_rpm_several_versions_installed(judge, result):
    out = "rpm|kernel|5.14.0-362.8.1.el9_3|x86_64\nrpm|kernel|5.14.0-427.13.1.el9_4|x86_64\n"
    v = judge(PackageInstalled, {"package": "kernel"}, pkg=result(out))
    assert v.status is Status.CONFORME and "427" in v.observed


@pytest.mark.parametrize("stdout,stderr,code", [
    ("", "", 0),  # nothing at all
    ("Welcome to my server!\n", "", 0),  # garbage from a login script
    ("ii |nginx|1.22|amd64\n", "", 0),  # another package than the one asked
    ("", "/bin/sh: 1: /usr/bin/dpkg-query: Permission denied\n", 126),
    ("", "ni dpkg-query ni rpm sur cet hôte\n", 127),
    ("", "dpkg-query: error: parsing file '/var/lib/dpkg/status' near line 4\n", 2),
])
def test_empty_garbage_or_broken_tool_is_never_conforme(judge, result, stdout, stderr, code):
    v = judge(PackageInstalled, {"package": "apache2"}, pkg=result(stdout, stderr, code))
    assert v.status is Status.ERREUR


@pytest.mark.parametrize("name", ["apache2*", "-foo", "a b", "apache2;reboot", "", "nginx?"])
def test_package_names_are_validated(name):
    with pytest.raises(pydantic.ValidationError):
        PackageInstalled.Params(package=name)


def test_probe_quotes_and_prefers_dpkg():
    probe = PackageInstalled().probes(PackageInstalled.Params(package="NetworkManager"))["pkg"]
    assert probe.command.startswith("if [ -x /usr/bin/dpkg-query ]")
    assert "-- NetworkManager" in probe.command and "/usr/bin/rpm -q" in probe.command
