"""linux.snmpd_community and linux.snmpd_v3_user: configuration dumps captured on Debian 12 (snmpd 5.9.3).

snmpd_dump_debian_v3tool.txt: the packaged snmpd.conf (rocommunity public default -V
systemonly, rouser authPrivUser authpriv, includeDir /etc/snmp/snmpd.conf.d) after
``net-snmp-create-v3-user -ro -a SHA -A ... -x AES -X ... supervision``, which appends
``rouser supervision`` (no level) and puts ``createUser`` in /var/lib/snmp/snmpd.conf.
snmpd_dump_debian_confd.txt adds snmpd.conf.d/tssr.conf (rouser supervision priv,
rocommunity tssr-ro 192.168.10.0/24) and snmpd.conf.d/ancien.conf.bak (rwcommunity tssr-ro).
"""

from __future__ import annotations

import pydantic
import pytest

from checks.linux.snmpd import SnmpdCommunity, SnmpdV3User, decode_octets
from grader.model import Status


def community(judge, r, name, access="ro"):
    return judge(SnmpdCommunity, {"community": name, "access": access}, snmpd=r)


def v3(judge, r, user, level="priv"):
    return judge(SnmpdV3User, {"user": user, "level": level}, snmpd=r)


def test_packaged_public_community(judge, capture):
    r = capture("snmpd_dump_debian_v3tool.txt")
    v = community(judge, r, "public")
    assert v.status is Status.CONFORME and "public (ro, source default)" in v.observed
    assert community(judge, r, "public", "any").status is Status.CONFORME
    assert community(judge, r, "public", "rw").status is Status.NON_CONFORME
    assert community(judge, r, "Public").status is Status.NON_CONFORME  # names are case-sensitive


def test_source_restriction_is_reported_and_unread_file_ignored(judge, capture):
    r = capture("snmpd_dump_debian_confd.txt")
    v = community(judge, r, "tssr-ro")
    # the rwcommunity line sits in ancien.conf.bak, which includeDir does not read (*.conf only)
    assert v.status is Status.CONFORME and "tssr-ro (ro, source 192.168.10.0/24)" in v.observed
    assert community(judge, r, "tssr-ro", "rw").status is Status.NON_CONFORME


def test_ro_community_that_also_has_write_access(judge, result, framing):
    conf = "rocommunity tssr-ro 192.168.10.0/24\nrwcommunity tssr-ro 127.0.0.1\n"
    r = result(framing({"/etc/snmp/snmpd.conf": conf}, family="debian"))
    v = community(judge, r, "tssr-ro")
    assert v.status is Status.NON_CONFORME and "écriture" in v.message
    assert community(judge, r, "tssr-ro", "rw").status is Status.CONFORME


def test_commented_and_unincluded_communities(judge, result, framing):
    files = {"/etc/snmp/snmpd.conf": "#rocommunity secret\n  # rocommunity secret 10.0.0.0/8\n",
             "/etc/snmp/snmpd.conf.d/tssr.conf": "rocommunity secret\n"}  # no includeDir line
    v = community(judge, result(framing(files, family="debian")), "secret")
    assert v.status is Status.NON_CONFORME and "/etc/snmp/snmpd.conf.d/tssr.conf" in v.observed


def test_other_community_directives(judge, result, framing):
    conf = ('rocommunity6 "my secret" fd00::/64\n'
            "rocommunity -v 2c v2only 10.0.0.0/8\n"
            "authcommunity read,write ecriture 10.0.0.0/8\n"
            "com2sec -Cn ctx lecteurs 192.168.1.0/24 legacy\n")
    r = result(framing({"/etc/snmp/snmpd.conf": conf}, family="debian"))
    assert community(judge, r, "v2only").status is Status.CONFORME
    assert community(judge, r, "ecriture", "rw").status is Status.CONFORME
    assert community(judge, r, "ecriture", "ro").status is Status.NON_CONFORME
    # com2sec: rights come from group/access lines we do not resolve
    assert community(judge, r, "legacy", "any").status is Status.CONFORME
    v = community(judge, r, "legacy", "ro")
    assert v.status is Status.ERREUR and "com2sec" in v.message


def test_packaged_v3_tool_does_not_require_encryption(judge, capture):
    r = capture("snmpd_dump_debian_v3tool.txt")
    # "rouser supervision" without a level means authNoPriv: encryption is not required
    v = v3(judge, r, "supervision", "priv")
    assert v.status is Status.NON_CONFORME and "niveau auth par défaut" in v.observed
    assert v3(judge, r, "supervision", "auth").status is Status.CONFORME
    # the packaged "rouser authPrivUser authpriv" names a user nobody created
    v = v3(judge, r, "authPrivUser")
    assert v.status is Status.NON_CONFORME and "inconnu" in v.message


def test_priv_level_from_included_file(judge, capture):
    v = v3(judge, capture("snmpd_dump_debian_confd.txt"), "supervision", "priv")
    assert v.status is Status.CONFORME
    assert "createUser supervision auth=SHA priv=AES" in v.observed


def test_passphrases_never_reach_the_observation(judge, capture):
    r = capture("snmpd_dump_debian_confd.txt")
    assert "AuthPass2026" in r.stdout
    for level in ("auth", "priv"):
        v = v3(judge, r, "supervision", level)
        assert "Pass2026" not in v.observed + v.message + v.expected


def test_usm_user_lines_written_by_snmpd(judge, capture):
    r = capture("snmpd_dump_debian_usmuser.txt")
    v = v3(judge, r, "supervision", "priv")
    assert v.status is Status.CONFORME and "usmUser supervision" in v.observed
    assert "priv=.1.3.6.1.6.3.10.1.2.4" in v.observed


def test_hex_encoded_user_without_privacy(judge, capture, result, framing):
    text = capture("snmpd_dump_debian_usmuser.txt").stdout
    text = text.replace("|rouser supervision\n", "|rouser supervision\n|rouser supervision-ro authnopriv\n")
    assert v3(judge, result(text), "supervision-ro", "auth").status is Status.CONFORME
    v = v3(judge, result(text), "supervision-ro", "priv")
    assert v.status is Status.NON_CONFORME and "priv=aucun" in v.observed


def test_user_with_another_engine_id_does_not_count(judge, capture, result):
    text = capture("snmpd_dump_debian_usmuser.txt").stdout.replace(
        "|rouser supervision\n", "|rouser supervision\n|rouser ancien priv\n")
    v = v3(judge, result(text), "ancien", "priv")
    assert v.status is Status.NON_CONFORME and "moteur" in v.observed


def test_decode_octets():
    assert decode_octets("supervision") == "supervision"
    assert decode_octets("0x7375706572766973696f6e2d726f") == "supervision-ro"
    assert decode_octets("0x6e6167696f7300") == "nagios"  # before net-snmp 5.6 the NUL was saved too
    assert decode_octets("0xzz") is None


def test_redhat_persistent_directory(judge, result, framing):
    files = {"/etc/snmp/snmpd.conf": "rouser supervision priv\n",
             "/var/lib/net-snmp/snmpd.conf": 'createUser supervision SHA-256 "motdepasse1" AES "motdepasse2"\n',
             "/var/lib/snmp/snmpd.conf": 'createUser leurre SHA "motdepasse1" AES "motdepasse2"\n'}
    assert v3(judge, result(framing(files, family="redhat")), "supervision").status is Status.CONFORME
    files["/etc/snmp/snmpd.conf"] = "rouser leurre priv\n"
    v = v3(judge, result(framing(files, family="redhat")), "leurre")
    assert v.status is Status.NON_CONFORME  # /var/lib/snmp is not the persistent directory there


def test_createuser_forms(judge, result, framing):
    conf = ("rouser sansmdp noauth\nrouser authseul auth\nrwuser complet priv\nrouser cle priv\n"
            "createUser sansmdp\n"
            'createUser authseul MD5 "motdepasse1"\n'
            'createUser -e 0x8000000001020304 complet SHA "motdepasse1" DES\n'
            "createUser cle SHA -l 0x1234567890abcdef1234567890abcdef12345678 AES -l 0x00112233445566778899aabbccddeeff\n")
    r = result(framing({"/etc/snmp/snmpd.conf": conf}, family="debian"))
    assert v3(judge, r, "sansmdp", "auth").status is Status.NON_CONFORME
    assert v3(judge, r, "authseul", "auth").status is Status.CONFORME
    assert v3(judge, r, "authseul", "priv").status is Status.NON_CONFORME
    assert v3(judge, r, "complet", "priv").status is Status.CONFORME  # privacy passphrase defaults to auth one
    assert v3(judge, r, "cle", "priv").status is Status.CONFORME


def test_no_configuration(judge, result, framing):
    absent = ("/etc/snmp/snmpd.conf", "/etc/snmp/snmpd.local.conf", "/usr/share/snmp/snmpd.conf",
              "/usr/share/snmp/snmpd.local.conf", "/etc/snmp/snmpd.conf.d/*", "/var/lib/snmp/snmpd.conf",
              "/var/lib/net-snmp/snmpd.conf")
    r = result(framing({}, absent=absent, family="debian"))
    assert community(judge, r, "public").status is Status.NON_CONFORME
    assert v3(judge, r, "supervision").status is Status.NON_CONFORME


@pytest.mark.parametrize("stdout,code", [("", 0), ("Bienvenue\n", 0), ("|rocommunity public\n", 0), ("", 127)])
def test_garbage_is_erreur(judge, result, stdout, code):
    assert community(judge, result(stdout, "", code), "public").status is Status.ERREUR
    assert v3(judge, result(stdout, "", code), "supervision").status is Status.ERREUR


def test_truncated_configuration_without_match_is_erreur(judge, capture, result):
    text = capture("snmpd_dump_debian_v3tool.txt").stdout
    cut = result(text[: text.index("|rocommunity")], truncated=True)
    assert community(judge, cut, "public").status is Status.ERREUR


@pytest.mark.parametrize("cls,params", [(SnmpdCommunity, {"community": "a b"}), (SnmpdCommunity, {"community": ""}),
                                        (SnmpdCommunity, {"community": "x", "access": "write"}),
                                        (SnmpdV3User, {"user": "x", "level": "noauth"}), (SnmpdV3User, {"user": ""})])
def test_params_are_validated(cls, params):
    with pytest.raises(pydantic.ValidationError):
        cls.Params(**params)


def test_both_checks_share_one_probe():
    a = SnmpdCommunity().probes(SnmpdCommunity.Params(community="public"))["snmpd"]
    b = SnmpdV3User().probes(SnmpdV3User.Params(user="supervision"))["snmpd"]
    assert a == b and "/etc/snmp/snmpd.conf.d/*" in a.command
