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


# --- rules are evaluated in order: what a stop before the forward, or an empty selector, leaves ----------

FORWARD = "*.* @@192.168.10.5:514\n"


def _debian(capture, rsyslog_d: dict[str, str], before_include: str = "", rules: str = "") -> dict[str, str]:
    """Debian 12's rsyslog.conf (its $IncludeConfig comes before its rules), with extra lines, and rsyslog.d files."""
    main = debian_main(capture).replace("$IncludeConfig /etc/rsyslog.d/*.conf",
                                        before_include + "$IncludeConfig /etc/rsyslog.d/*.conf")
    return {"/etc/rsyslog.conf": main + rules, **rsyslog_d}


@pytest.mark.parametrize("stop", [
    "*.* stop\n",                                   # RainerScript stop after a legacy selector
    "*.* ~\n",                                      # the legacy discard action
    "*.* /var/log/tout.log\n& stop\n",              # & continues the previous selector
    "*.* /var/log/tout.log\n& ~\n",
    "stop\n",                                       # an unconditional statement
    "*.info stop\n*.=debug stop\n",                 # two stops that together cover everything
])
def test_a_stop_for_every_message_before_the_forward_leaves_nothing_to_forward(judge, capture, result, framing, stop):
    files = _debian(capture, {"/etc/rsyslog.d/10-stop.conf": stop, "/etc/rsyslog.d/50-remote.conf": FORWARD})
    v = verdict(judge, result(framing(files)), "192.168.10.5", 514, "tcp")
    assert v.status is Status.NON_CONFORME, stop
    assert "/etc/rsyslog.d/50-remote.conf:1" in v.observed and "arrêté" in v.observed
    assert "/etc/rsyslog.d/10-stop.conf:" in v.observed


def test_a_stop_in_rsyslog_conf_before_the_include_line_stops_the_included_forward(judge, capture, result, framing):
    files = _debian(capture, {"/etc/rsyslog.d/50-remote.conf": FORWARD}, before_include="*.* stop\n")
    v = verdict(judge, result(framing(files)), "192.168.10.5", 514, "tcp")
    assert v.status is Status.NON_CONFORME and "/etc/rsyslog.conf:" in v.observed


@pytest.mark.parametrize("forward", [
    'action(type="omfwd" target="192.168.10.5" port="514" protocol="tcp")\n',
    '*.* action(type="omfwd" target="192.168.10.5" port="514" protocol="tcp")\n',
    "if $syslogfacility-text == 'auth' then action(type=\"omfwd\" target=\"192.168.10.5\" port=\"514\" protocol=\"tcp\")\n",
])
def test_a_stop_before_a_rainerscript_forward(judge, result, framing, forward):
    v = verdict(judge, result(framing({"/etc/rsyslog.conf": "*.* stop\n" + forward})), "192.168.10.5", 514, "tcp")
    assert v.status is Status.NON_CONFORME


@pytest.mark.parametrize("selector", ["*.none", "*.*;*.none", "auth,authpriv.none", "mail.*;mail.none", "*.!*"])
def test_a_selector_that_selects_nothing_forwards_nothing(judge, result, framing, selector):
    v = verdict(judge, result(framing({"/etc/rsyslog.conf": f"{selector} @@192.168.10.5:514\n"})),
                "192.168.10.5", 514, "tcp")
    assert v.status is Status.NON_CONFORME, selector
    assert "ne sélectionne aucun message" in v.observed


@pytest.mark.parametrize("rules", [
    FORWARD + "& stop\n",                                                    # stop after the forward
    FORWARD + "*.* stop\n",
    ':programname, isequal, "haproxy" /var/log/haproxy.log\n& stop\n' + FORWARD,   # one program's messages
    ':programname, isequal, "haproxy" stop\n' + FORWARD,
    ':syslogtag, isequal, "[CLOUDINIT]" /var/log/cloud-init.log\n& stop\n' + FORWARD,  # Ubuntu's 21-cloudinit.conf
    "if $programname == 'haproxy' then stop\n" + FORWARD,
    "if $programname == 'haproxy' then {\n    action(type=\"omfile\" file=\"/var/log/haproxy.log\")\n    stop\n}\n"
    + FORWARD,
    "if $programname == 'haproxy' then\n    stop\n" + FORWARD,
    "if $programname == 'haproxy' then /var/log/haproxy.log\n& stop\n" + FORWARD,
    "local0.* /var/log/haproxy.log\n& stop\n" + FORWARD,                      # one facility
    'ruleset(name="distant") {\n    *.* stop\n}\n' + FORWARD,                  # another ruleset
    "$RuleSet local\n*.* stop\n$RuleSet RSYSLOG_DefaultRuleset\n" + FORWARD,
    "*.*;auth.none stop\n" + FORWARD,                                         # auth still gets through
    'template(name="t" type="string" string="stop")\n*.* /var/log/stop\n' + FORWARD,
])
def test_stops_that_leave_messages_for_the_forward(judge, result, framing, rules):
    v = verdict(judge, result(framing({"/etc/rsyslog.conf": rules})), "192.168.10.5", 514, "tcp")
    assert v.status is Status.CONFORME, rules


def test_a_stop_after_the_include_or_in_a_later_file_does_not_matter(judge, capture, result, framing):
    files = _debian(capture, {"/etc/rsyslog.d/50-remote.conf": FORWARD, "/etc/rsyslog.d/99-stop.conf": "*.* stop\n",
                              "/etc/rsyslog.d/00-stop.conf.bak": "*.* stop\n"}, rules="*.* stop\n")
    v = verdict(judge, result(framing(files)), "192.168.10.5", 514, "tcp")
    assert v.status is Status.CONFORME


def test_a_partial_stop_before_the_forward_is_said(judge, result, framing):
    v = verdict(judge, result(framing({"/etc/rsyslog.conf": "mail.* stop\n" + FORWARD})), "192.168.10.5", 514, "tcp")
    assert v.status is Status.CONFORME and "en partie" in v.observed and "/etc/rsyslog.conf:1" in v.observed


# --- includes rsyslog reads that the probe does not dump ---------------------------------------------------


@pytest.mark.parametrize("include", ["$IncludeConfig /etc/rsyslog.conf.d/*.conf",
                                     'include(file="/usr/local/etc/rsyslog/*.conf" mode="optional")',
                                     "$IncludeConfig /etc/rsyslog.d/distant/*.conf"])
def test_an_include_outside_rsyslog_d_is_unread_so_no_conclusion(judge, result, framing, include):
    # nothing forwards in what was read: the forward may be in the unread include
    v = verdict(judge, result(framing({"/etc/rsyslog.conf": f"{include}\n*.* /var/log/syslog\n"})), "192.168.10.5")
    assert v.status is Status.ERREUR and "non lu" in v.message, include
    # a forward read after the unread include: the include may stop every message before it
    v = verdict(judge, result(framing({"/etc/rsyslog.conf": f"{include}\n*.* @192.168.10.5\n"})), "192.168.10.5")
    assert v.status is Status.ERREUR and "non lu" in v.message, include
    # a forward read before it: nothing included later can undo it
    v = verdict(judge, result(framing({"/etc/rsyslog.conf": f"*.* @192.168.10.5\n{include}\n"})), "192.168.10.5")
    assert v.status is Status.CONFORME, include


def test_a_subdirectory_of_rsyslog_d_matched_by_the_include_is_not_read(judge, result, framing):
    dump = framing({"/etc/rsyslog.conf": "$IncludeConfig /etc/rsyslog.d/*.conf\n"})
    dump += ("==> /etc/rsyslog.d/distant.conf\n:: lstat root 755 directory\n")
    v = verdict(judge, result(dump), "192.168.10.5")
    assert v.status is Status.ERREUR and "/etc/rsyslog.d/distant.conf" in v.message


def test_include_of_rsyslog_d_without_a_slash_reads_the_directory(judge, result, framing):
    r = framing({"/etc/rsyslog.conf": "$IncludeConfig /etc/rsyslog.d\n", "/etc/rsyslog.d/remote.conf": FORWARD})
    assert verdict(judge, result(r), "192.168.10.5", 514, "tcp").status is Status.CONFORME


def test_a_selector_continued_on_the_next_line_is_not_read_as_its_last_part(judge, result, framing):
    # rsyslog joins a line ending with « \ » to the next: this selects everything except auth
    conf = "*.*;\\\n\tauth.none @@192.168.10.5:514\n"
    assert verdict(judge, result(framing({"/etc/rsyslog.conf": conf})), "192.168.10.5", 514, "tcp").status \
        is Status.CONFORME
