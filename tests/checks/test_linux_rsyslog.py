"""linux.rsyslog_forward: configuration dumps captured on Debian 12 (rsyslog 8.2302.0) and a RedHat one.

Every configuration written in this file was checked with ``rsyslogd -N1`` (rsyslog
8.2302.0) unless the test says rsyslog refuses it.
"""

from __future__ import annotations

import pydantic
import pytest

from checks.linux.rsyslog import RsyslogForward
from grader.model import Status


def debian_main(capture) -> str:
    text = capture("rsyslog_dump_debian_default.txt").stdout
    return "\n".join(line[1:] for line in text.splitlines() if line.startswith("|")) + "\n"


def verdict(judge, r, target, port=514, protocol="udp"):
    return judge(RsyslogForward, {"target": target, "port": port, "protocol": protocol}, rsyslog=r)


def test_default_debian_configuration_forwards_nothing(judge, capture):
    v = verdict(judge, capture("rsyslog_dump_debian_default.txt"), "192.168.10.5")
    assert v.status is Status.NON_CONFORME and v.observed == "aucun transfert configuré"


def test_legacy_tcp_forward_in_included_file(judge, capture):
    v = verdict(judge, capture("rsyslog_dump_debian_forwards.txt"), "192.168.10.5", 514, "tcp")
    assert v.status is Status.CONFORME
    assert "/etc/rsyslog.d/50-remote.conf:2 *.* → 192.168.10.5:514/tcp" in v.observed


def test_protocol_and_port_must_match(judge, capture):
    r = capture("rsyslog_dump_debian_forwards.txt")
    # the UDP forward to 192.168.10.5 only exists inside a /* */ block
    v = verdict(judge, r, "192.168.10.5", 514, "udp")
    assert v.status is Status.NON_CONFORME and "192.168.10.5:514/tcp" in v.observed
    assert verdict(judge, r, "192.168.10.5", 10514, "tcp").status is Status.NON_CONFORME


def test_file_not_matching_the_include_glob_is_not_read(judge, capture):
    v = verdict(judge, capture("rsyslog_dump_debian_forwards.txt"), "10.0.0.99", 514, "udp")
    assert v.status is Status.NON_CONFORME
    assert "non lu par rsyslog : /etc/rsyslog.d/60-ancien.conf.bak:1" in v.observed


def test_rainerscript_action_on_several_lines_inside_if(judge, capture):
    v = verdict(judge, capture("rsyslog_dump_debian_forwards.txt"), "logs.example.net", 10514, "tcp")
    assert v.status is Status.CONFORME
    assert "70-auth.conf:5 if $syslogfacility-text == 'auth' then → logs.example.net:10514/tcp" in v.observed


def test_commented_forward_does_not_count(judge, capture):
    v = verdict(judge, capture("rsyslog_dump_debian_forwards.txt"), "10.9.9.9", 514, "tcp")
    assert v.status is Status.NON_CONFORME and "commenté" in v.observed and "10.9.9.9" in v.observed


def test_ipv6_target_and_template(judge, capture):
    r = capture("rsyslog_dump_debian_forwards.txt")
    for target in ("2001:db8::5", "[2001:db8::5]"):
        v = verdict(judge, r, target, 10514, "udp")
        assert v.status is Status.CONFORME and "[2001:db8::5]:10514/udp" in v.observed


def test_redhat_configuration(judge, capture):
    r = capture("rsyslog_dump_redhat.txt")
    v = verdict(judge, r, "192.168.10.5", 30514, "tcp")
    assert v.status is Status.CONFORME and "/etc/rsyslog.d/remote.conf:2 *.*" in v.observed
    # the packaged sample rule "#*.* @@remote-host:514" is commented out
    v = verdict(judge, r, "remote-host", 514, "tcp")
    assert v.status is Status.NON_CONFORME and "commenté" in v.observed


def test_forward_in_file_without_include_is_not_read(judge, capture, result, framing):
    main = debian_main(capture)
    assert "$IncludeConfig /etc/rsyslog.d/*.conf" in main
    r = framing({"/etc/rsyslog.conf": main.replace("$IncludeConfig /etc/rsyslog.d/*.conf", ""),
                 "/etc/rsyslog.d/50-remote.conf": "*.* @@192.168.10.5:514\n"})
    v = verdict(judge, result(r), "192.168.10.5", 514, "tcp")
    assert v.status is Status.NON_CONFORME and "non lu par rsyslog" in v.observed


def test_include_object_and_directory_forms(judge, result, framing):
    for include in ('include(file="/etc/rsyslog.d/*.conf" mode="optional")', "$IncludeConfig /etc/rsyslog.d/"):
        r = framing({"/etc/rsyslog.conf": f"{include}\n", "/etc/rsyslog.d/remote.conf": "*.* @192.168.10.12\n"})
        v = verdict(judge, result(r), "192.168.10.12")
        assert v.status is Status.CONFORME, include


def test_other_legacy_forms(judge, result, framing):
    conf = (
        ':msg, contains, "error" @@192.168.10.7:6514\n'
        "mail.* /var/log/mail.log\n"
        "& @192.168.10.8\n"
        "*.* @@192.168.10.9:514 # collecteur\n"
        "*.* @@(o,z9)192.168.10.13:10514;RSYSLOG_ForwardFormat\n"
    )
    r = result(framing({"/etc/rsyslog.conf": conf}))
    assert verdict(judge, r, "192.168.10.7", 6514, "tcp").status is Status.CONFORME
    assert verdict(judge, r, "192.168.10.8", 514, "udp").status is Status.CONFORME
    assert verdict(judge, r, "192.168.10.9", 514, "tcp").status is Status.CONFORME
    assert verdict(judge, r, "192.168.10.13", 10514, "tcp").status is Status.CONFORME


def test_at_sign_in_strings_or_words_is_not_a_forward(judge, result, framing):
    conf = ('template(name="t" type="string" string="%msg% @10.0.0.1\\n")\n'
            "$ActionSendStreamDriverPermittedPeer admin@10.0.0.1\n"
            'if $msg contains "user@10.0.0.1" then /var/log/x.log\n')
    v = verdict(judge, result(framing({"/etc/rsyslog.conf": conf})), "10.0.0.1")
    assert v.status is Status.NON_CONFORME


def test_omfwd_prefix_is_refused_by_rsyslog(judge, capture, result, framing):
    proof = capture("rsyslogd_N1_omfwd.txt")
    assert proof.exit_code == 1 and "errors occurred in file" in proof.stderr
    v = verdict(judge, result(framing({"/etc/rsyslog.conf": "*.* :omfwd:192.168.10.5:514\n"})), "192.168.10.5")
    assert v.status is Status.NON_CONFORME and ":omfwd:" in v.observed


def test_named_ruleset_cannot_be_judged(judge, result, framing):
    conf = ('ruleset(name="distant") {\n    action(type="omfwd" target="192.168.10.5" port="514" protocol="udp")\n}\n'
            "$RuleSet local\n*.* @@192.168.10.6:514\n$RuleSet RSYSLOG_DefaultRuleset\n*.* @@192.168.10.9:514\n")
    r = result(framing({"/etc/rsyslog.conf": conf}))
    v = verdict(judge, r, "192.168.10.5")
    assert v.status is Status.ERREUR and "ruleset" in v.message
    assert verdict(judge, r, "192.168.10.6", 514, "tcp").status is Status.ERREUR
    assert verdict(judge, r, "192.168.10.9", 514, "tcp").status is Status.CONFORME


def test_target_pool_depends_on_the_rsyslog_version(judge, result, framing):
    # rsyslog 8.2302 (Debian 12) refuses target=[...]: "parameter 'target' is not a string".
    conf = '*.* action(type="omfwd" target=["192.168.10.10", "192.168.10.11"] protocol="tcp")\n'
    v = verdict(judge, result(framing({"/etc/rsyslog.conf": conf})), "192.168.10.10", 514, "tcp")
    assert v.status is Status.ERREUR and "8.2410" in v.message


def test_block_comment_spanning_an_action(judge, result, framing):
    conf = '/*\naction(type="omfwd" target="192.168.10.5" protocol="tcp")\n*/\n'
    v = verdict(judge, result(framing({"/etc/rsyslog.conf": conf})), "192.168.10.5", 514, "tcp")
    assert v.status is Status.NON_CONFORME


def test_missing_main_file(judge, result, framing):
    v = verdict(judge, result(framing({}, absent=("/etc/rsyslog.conf", "/etc/rsyslog.d/*"))), "192.168.10.5")
    assert v.status is Status.NON_CONFORME and "absent" in v.observed


@pytest.mark.parametrize("stdout,code", [("", 0), ("Bienvenue !\n", 0), ("|*.* @@192.168.10.5:514\n", 0), ("", 127)])
def test_garbage_is_erreur(judge, result, stdout, code):
    v = verdict(judge, result(stdout, "", code), "192.168.10.5", 514, "tcp")
    assert v.status is Status.ERREUR


def test_truncated_dump_without_match_is_erreur(judge, capture, result):
    text = capture("rsyslog_dump_debian_forwards.txt").stdout
    v = verdict(judge, result(text[:400], truncated=True), "10.1.1.1")
    assert v.status is Status.ERREUR


@pytest.mark.parametrize("params", [{"target": "10.0.0.1; rm"}, {"target": ""}, {"target": "x", "port": 0},
                                    {"target": "x", "protocol": "relp"}])
def test_params_are_validated(params):
    with pytest.raises(pydantic.ValidationError):
        RsyslogForward.Params(**params)


def test_docstring_says_it_is_configuration_evidence():
    doc = " ".join((RsyslogForward.__doc__ or "").split())
    assert "Configuration evidence" in doc and "end-to-end proof" in doc
