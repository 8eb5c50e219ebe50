"""Judges of the AD checks on real LDAP answers recorded from the demo room's Samba DCs.

The fixtures in data/ad/ are ProbeResults of the real ``ldap`` channel against candidate 01's DC
(the directory as asked) and candidate 02's (« Comptabilite » without its accent, a GPO linked
nowhere, a disabled link, inheritance not blocked, default password policy, the computer left
in CN=Computers); data/ad/record.py recorded them and each file states its origin. A few tests
derive a variant from a recording (a trailing space, a pre-created computer) and say so.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.windows import ad
from checks.windows._ad import parse_gplink, parse_path, split_dn
from grader.check import evaluate
from grader.model import ProbeResult, Status
from grader.plugins import default_catalogue

DATA = Path(__file__).parent / "data" / "ad"
C, N, E = Status.CONFORME, Status.NON_CONFORME, Status.ERREUR


def record(name: str) -> dict:
    data = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    assert data["origin"].startswith("Samba 4.17 AD DC of demo candidate")
    return data


def result(name: str | dict) -> ProbeResult:
    data = record(name) if isinstance(name, str) else name
    return ProbeResult(key="k", transport="ldap", command=data["command"],
                       stdout=json.dumps(data["output"], ensure_ascii=False) if data["output"] is not None else "",
                       stderr=data["stderr"], exit_code=data["exit_code"], truncated=data["truncated"])


def judge(cls, params: dict, **probes: str | dict):
    check = cls()
    p = cls.Params(**params)
    declared = check.probes(p)
    assert set(declared) == set(probes), f"probes: {set(declared)}"
    for name, probe in declared.items():  # the recording answers exactly the search the check declares
        rec = record(probes[name]) if isinstance(probes[name], str) else probes[name]
        assert json.loads(rec["command"]) == json.loads(probe.command), name
    return evaluate(check, p, {name: result(src) for name, src in probes.items()})


# --- ad.ou_exists ------------------------------------------------------------------------------


def test_ou_with_its_accent_is_found_and_case_does_not_matter():
    v = judge(ad.OuExists, {"path": "Comptabilité"}, ous="c01_ous")
    assert v.status is C and v.observed == "OU=Comptabilité,DC=tssr,DC=lan"
    v = judge(ad.OuExists, {"path": "COMPTABILITÉ"}, ous="c01_ous")
    assert v.status is C and "casse" in v.message
    assert judge(ad.OuExists, {"path": "OU=Direction,DC=tssr,DC=lan"}, ous="c01_ous").status is C


def test_ou_without_its_accent_is_non_conforme_and_says_why():
    v = judge(ad.OuExists, {"path": "Comptabilité"}, ous="c02_ous")
    assert v.status is N
    assert "« Comptabilite » au lieu de « Comptabilité » (accents différents)" in v.message
    assert "Comptabilite" in v.observed


def test_ou_elsewhere_and_ou_absent():
    v = judge(ad.OuExists, {"path": "Siège/Comptabilité"}, ous="c01_ous")
    assert v.status is N and "existe sous (racine du domaine)" in v.message
    v = judge(ad.OuExists, {"path": "Ressources humaines"}, ous="c01_ous")
    assert v.status is N and v.message == "L'UO « Ressources humaines » n'existe pas."


def test_ou_with_a_trailing_space_is_reported():
    rec = copy.deepcopy(record("c01_ous"))  # derived: candidate 01's OU renamed "Direction " (trailing space)
    for e in rec["output"]["entries"]:
        if e["dn"].startswith("OU=Direction,"):
            e["dn"] = "OU=Direction\\ ," + e["dn"].split(",", 1)[1]
    v = judge(ad.OuExists, {"path": "Direction"}, ous=rec)
    assert v.status is N and "« Direction␣ » a des espaces en trop" in v.message


def test_path_parameters_are_validated():
    assert parse_path("Siège/Comptabilité") == ["Siège", "Comptabilité"]
    assert parse_path("OU=Paie,OU=Compta,DC=tssr,DC=lan") == ["Compta", "Paie"]
    assert split_dn("OU=Compta\\2C RH,OU=Caf\\C3\\A9,DC=x") == [("OU", "Compta, RH"), ("OU", "Café"), ("DC", "x")]
    for bad in ("Comptabilité ", "Siège//Compta"):
        with pytest.raises(ValidationError):
            ad.OuExists.Params(path=bad)


# --- ad.user -------------------------------------------------------------------------------------

ALICE = {"login": "alice", "ou": "Comptabilité", "given_name": "Alice", "surname": "Martin",
         "upn": "alice@tssr.lan", "must_change_password": True}


def test_user_complete():
    v = judge(ad.UserAccount, ALICE, user="c01_user_alice")
    assert v.status is C, v.message
    assert "doit changer son mot de passe" in v.observed and "n'expire jamais" in v.observed


def test_user_in_the_ou_without_accent():
    v = judge(ad.UserAccount, ALICE, user="c02_user_alice")
    assert v.status is N
    assert "placé dans « Comptabilite » au lieu de « Comptabilité »" in v.message and "accents" in v.message


def test_user_attributes_compared_one_by_one():
    v = judge(ad.UserAccount, {"login": "bdurand", "ou": "Direction", "given_name": "Bruno",
                               "must_change_password": True, "expires": "2027-06-30", "upn": "bruno@tssr.lan"},
              user="c01_user_bdurand")
    assert v.status is N
    assert "ne doit pas changer" in v.message and "expiration jamais" in v.message and "UPN" in v.message
    v = judge(ad.UserAccount, {"login": "bdurand", "must_change_password": False, "expires": "jamais"},
              user="c01_user_bdurand")
    assert v.status is C


def test_absent_user():
    v = judge(ad.UserAccount, {"login": "zoe"}, user="c01_user_zoe")
    assert v.status is N and v.message == "Le compte zoe n'existe pas."


def test_user_disabled_and_expiry_date():
    rec = copy.deepcopy(record("c01_user_alice"))  # derived: disabled, expires at the start of 2027-07-01 UTC
    attrs = rec["output"]["entries"][0]["attributes"]
    attrs["userAccountControl"] = [514]
    attrs["accountExpires"] = ["2027-06-30T22:00:00Z"]  # ADUC « Fin de : 30/06/2027 » in Paris (UTC+2)
    v = judge(ad.UserAccount, {"login": "alice", "expires": "2027-06-30"}, user=rec)
    assert v.status is N and "compte désactivé" in v.message
    assert judge(ad.UserAccount, {"login": "alice", "enabled": False, "expires": "2027-06-30"}, user=rec).status is C
    v = judge(ad.UserAccount, {"login": "alice", "enabled": None, "expires": "2027-05-31"}, user=rec)
    assert v.status is N and "au lieu de la fin du 2027-05-31" in v.message


def test_login_parameter_is_validated():
    for bad in ("a/b", "x" * 21, " alice", "a@b"):
        with pytest.raises(ValidationError):
            ad.UserAccount.Params(login=bad)
    with pytest.raises(ValidationError):
        ad.UserAccount.Params(login="alice", expires="bientôt")


# --- ad.group --------------------------------------------------------------------------------


@pytest.mark.parametrize("cand", ["c01", "c02"])
def test_group_agdlp_nested_membership(cand):
    params = {"name": "DL_Partage_Compta", "scope": "domaine_local", "type": "securite", "members": ["alice"]}
    v = judge(ad.GroupMembers, params, principals=f"{cand}_principals")
    assert v.status is C, v.message
    assert "membres directs : GG_Compta" in v.observed and "alice" in v.observed


def test_group_without_nesting_and_wrong_scope():
    params = {"name": "DL_Partage_Compta", "scope": "global", "members": ["alice"], "nested": False}
    v = judge(ad.GroupMembers, params, principals="c01_principals")
    assert v.status is N
    assert "étendue domaine_local au lieu de globale" in v.message and "membres absents : alice" in v.message


def test_group_exact_members_and_primary_group():
    v = judge(ad.GroupMembers, {"name": "GG_Compta", "scope": "globale", "members": ["alice"], "exact": True},
              principals="c01_principals")
    assert v.status is C
    v = judge(ad.GroupMembers, {"name": "Domain Users", "members": ["alice", "bdurand", "grader"]},
              principals="c01_principals")
    assert v.status is C, v.message  # members through primaryGroupID, not in "member"
    v = judge(ad.GroupMembers, {"name": "GG_Compte"}, principals="c01_principals")
    assert v.status is N and "n'existe pas" in v.message


# --- ad.gpo_exists / ad.gpo_link ----------------------------------------------------------------

FOND = "Fond d'écran"
POSTES = "Sécurité des postes"
LINK = {"gpos": None, "ous": None, "domain": None}


def links(cand: str) -> dict[str, str]:
    return {k: f"{cand}_{k}" for k in LINK}


def test_gpo_exists_by_display_name():
    assert judge(ad.GpoExists, {"name": FOND}, gpos="c01_gpos").status is C
    assert judge(ad.GpoExists, {"name": "fond D'ÉCRAN"}, gpos="c02_gpos").status is C
    v = judge(ad.GpoExists, {"name": "Fond d'ecran"}, gpos="c01_gpos")
    assert v.status is N and "accents différents" in v.message
    assert "Default Domain Policy" in v.observed


def test_gpo_linked_to_the_domain_enforced_order():
    v = judge(ad.GpoLink, {"gpo": FOND, "target": "", "enforced": True}, **links("c01"))
    assert v.status is C, v.message
    assert "appliqué (enforced)" in v.observed
    # samba-tool gpo setlink writes a new link first in gPLink, as GPMC does: it gets link order 2.
    v = judge(ad.GpoLink, {"gpo": FOND, "target": "", "order": 1}, **links("c01"))
    assert v.status is N and v.message.endswith("ordre de liaison 2 au lieu de 1.")
    v = judge(ad.GpoLink, {"gpo": "Default Domain Policy", "enforced": True, "order": 1}, **links("c01"))
    assert v.status is N and v.message.endswith("le lien n'est pas appliqué (enforced).")


def test_gpo_created_but_linked_nowhere():
    v = judge(ad.GpoLink, {"gpo": FOND, "target": ""}, **links("c02"))
    assert v.status is N
    assert v.message == "La stratégie « Fond d'écran » existe mais n'est pas liée au domaine ; elle n'est liée nulle part."


def test_disabled_link_is_non_conforme_with_the_reason():
    assert judge(ad.GpoLink, {"gpo": POSTES, "target": "Postes"}, **links("c01")).status is C
    v = judge(ad.GpoLink, {"gpo": POSTES, "target": "Postes"}, **links("c02"))
    assert v.status is N and "le lien est désactivé (la stratégie ne s'applique pas)" in v.message
    assert judge(ad.GpoLink, {"gpo": POSTES, "target": "Postes", "enabled": False}, **links("c02")).status is C


def test_gpo_linked_elsewhere_or_missing_target_or_gpo():
    v = judge(ad.GpoLink, {"gpo": POSTES, "target": "Direction"}, **links("c01"))
    assert v.status is N and "elle est liée à : Postes" in v.message
    v = judge(ad.GpoLink, {"gpo": POSTES, "target": "Comptabilité"}, **links("c02"))
    assert v.status is N and "accents différents" in v.message
    v = judge(ad.GpoLink, {"gpo": "Inconnue", "target": "Postes"}, **links("c01"))
    assert v.status is N and "n'existe pas" in v.message


def test_gplink_order_follows_gpmc():
    value = ("[LDAP://cn={AAAAAAAA-0000-0000-0000-000000000001},cn=policies,cn=system,DC=tssr,DC=lan;0]"
             "[LDAP://cn={31B2F340-016D-11D2-945F-00C04FB984F9},cn=policies,cn=system,DC=tssr,DC=lan;3]")
    first, last = parse_gplink(value)
    assert (first.order, last.order) == (2, 1)  # the last one written is link order 1
    assert last.guid == "{31B2F340-016D-11D2-945F-00C04FB984F9}" and not last.enabled and last.enforced


POSTES_GUID = "{642875A2-C173-437E-9C50-F7581B85AC58}"


def gpo_flags(cand: str, guid: str, flags: object) -> dict:
    """Derived: the GPO's ``flags`` as GPMC writes them (1 user part disabled, 2 computer part, 3 both)."""
    rec = copy.deepcopy(record(f"{cand}_gpos"))
    for entry in rec["output"]["entries"]:
        if entry["attributes"]["cn"] == [guid]:
            entry["attributes"]["flags"] = [flags]
    return rec


def test_a_gpo_with_all_its_settings_disabled_does_not_apply():
    v = judge(ad.GpoLink, {"gpo": POSTES, "target": "Postes"}, **{**links("c01"), "gpos": gpo_flags("c01", POSTES_GUID, 3)})
    assert v.status is N and "tous ses paramètres sont désactivés" in v.message
    assert "flags=3" in v.observed and "lien activé" in v.observed


@pytest.mark.parametrize("flags,settings,status", [
    (1, "any", C), (1, "computer", C), (1, "user", N), (1, "both", N),
    (2, "any", C), (2, "user", C), (2, "computer", N), (2, "both", N),
    (0, "both", C), (3, "user", N), (3, "computer", N),
])
def test_the_rubric_may_ask_for_the_user_or_computer_part(flags, settings, status):
    v = judge(ad.GpoLink, {"gpo": POSTES, "target": "Postes", "settings": settings},
              **{**links("c01"), "gpos": gpo_flags("c01", POSTES_GUID, flags)})
    assert v.status is status, (flags, settings, v.message)
    if flags == 1:
        assert "partie Utilisateur désactivée (flags=1)" in v.observed
    if flags == 2:
        assert "partie Ordinateur désactivée (flags=2)" in v.observed
    if flags == 0:
        assert "flags" not in v.observed


def test_unreadable_gpo_flags_are_erreur():
    v = judge(ad.GpoLink, {"gpo": POSTES, "target": "Postes"},
              **{**links("c01"), "gpos": gpo_flags("c01", POSTES_GUID, "beaucoup")})
    assert v.status is E and "flags" in v.message


def test_settings_parameter_is_validated_and_defaults_to_any_part():
    assert ad.GpoLink.Params(gpo="x").settings == "any"
    with pytest.raises(ValidationError):
        ad.GpoLink.Params(gpo="x", settings="machine")


def linked_twice(options: tuple[int, int]) -> dict:
    """Derived: the OU Postes with « Sécurité des postes » linked twice (ADSI Edit writes it, GPMC refuses it)."""
    rec = copy.deepcopy(record("c01_ous"))
    for entry in rec["output"]["entries"]:
        if entry["dn"] == "OU=Postes,DC=tssr,DC=lan":
            entry["attributes"]["gPLink"] = ["".join(f"[LDAP://CN={POSTES_GUID},CN=Policies,CN=System,DC=tssr,DC=lan;{o}]"
                                                     for o in options)]
    return rec


def test_a_gpo_linked_twice_to_the_same_ou():
    # both links enabled: linked, and the evidence says twice
    v = judge(ad.GpoLink, {"gpo": POSTES, "target": "Postes"}, **{**links("c01"), "ous": linked_twice((0, 0))})
    assert v.status is C and "2 fois" in v.observed and "2 fois" in v.message
    # the first link written disabled, the other enabled: the GPO applies through the enabled one
    v = judge(ad.GpoLink, {"gpo": POSTES, "target": "Postes"}, **{**links("c01"), "ous": linked_twice((1, 0))})
    assert v.status is C and "lien désactivé" in v.observed and "lien activé" in v.observed
    # a disabled link was asked for: the enabled one applies it all the same
    v = judge(ad.GpoLink, {"gpo": POSTES, "target": "Postes", "enabled": False},
              **{**links("c01"), "ous": linked_twice((1, 0))})
    assert v.status is N and "le lien est activé" in v.message
    # enforced and order are those of an enabled link
    v = judge(ad.GpoLink, {"gpo": POSTES, "target": "Postes", "enforced": True, "order": 2},
              **{**links("c01"), "ous": linked_twice((2, 0))})
    assert v.status is C, v.message
    v = judge(ad.GpoLink, {"gpo": POSTES, "target": "Postes", "enforced": True, "order": 1},
              **{**links("c01"), "ous": linked_twice((2, 0))})
    assert v.status is N and "appliqué" in v.message
    # both disabled: not applied, said once
    v = judge(ad.GpoLink, {"gpo": POSTES, "target": "Postes"}, **{**links("c01"), "ous": linked_twice((1, 1))})
    assert v.status is N and v.message.count("désactivé") == 1


# --- ad.inheritance_blocked / ad.password_policy / ad.computer_in_ou ------------------------------


def test_inheritance_blocked():
    assert judge(ad.InheritanceBlocked, {"path": "Direction"}, ous="c01_ous").status is C
    v = judge(ad.InheritanceBlocked, {"path": "Direction"}, ous="c02_ous")
    assert v.status is N and "gPOptions" in v.observed
    assert judge(ad.InheritanceBlocked, {"path": "Postes", "blocked": False}, ous="c02_ous").status is C


def test_password_policy():
    params = {"min_length": 12, "complexity": True, "lockout_threshold": 5, "lockout_duration_minutes": 30}
    assert judge(ad.PasswordPolicy, params, domain="c01_domain").status is C
    v = judge(ad.PasswordPolicy, params, domain="c02_domain")
    assert v.status is N
    assert "longueur minimale 7 au lieu de 12" in v.message and "seuil de verrouillage 0 au lieu de 5" in v.message
    assert judge(ad.PasswordPolicy, {"max_age_days": 42, "history": 24}, domain="c02_domain").status is C
    with pytest.raises(ValidationError):
        ad.PasswordPolicy.Params()


def test_computer_joined_and_placed():
    v = judge(ad.ComputerInOu, {"name": "PC-COMPTA01", "ou": "Postes"}, computer="c01_computer_pc-compta01")
    assert v.status is C and "Windows 11" in v.observed
    v = judge(ad.ComputerInOu, {"name": "PC-COMPTA01", "ou": "Postes"}, computer="c02_computer_pc-compta01")
    assert v.status is N and "placé dans « Computers » au lieu de « Postes »" in v.message
    v = judge(ad.ComputerInOu, {"name": "PC-ABSENT", "ou": "Postes"}, computer="c01_computer_pc-absent")
    assert v.status is N and "n'est pas joint" in v.message


def test_pre_created_computer_is_not_joined():
    rec = copy.deepcopy(record("c01_computer_pc-compta01"))  # derived: what samba-tool computer create leaves
    attrs = rec["output"]["entries"][0]["attributes"]
    for a in ("dNSHostName", "operatingSystem", "operatingSystemVersion"):
        attrs.pop(a, None)
    v = judge(ad.ComputerInOu, {"name": "PC-COMPTA01", "ou": "Postes"}, computer=rec)
    assert v.status is N and "aucune machine ne l'a utilisé" in v.message


# --- what cannot be read is erreur, never non_conforme --------------------------------------------


def test_failed_search_and_garbage_are_erreur():
    rec = copy.deepcopy(record("c01_ous"))
    rec["exit_code"], rec["stderr"], rec["output"] = 50, "insufficientAccessRights", None
    v = judge(ad.OuExists, {"path": "Comptabilité"}, ous=rec)
    assert v.status is E and "code 50" in v.message
    garbage = ProbeResult("k", "ldap", ad.OUS.command, stdout="<html>", exit_code=0)
    assert evaluate(ad.OuExists(), ad.OuExists.Params(path="x"), {"ous": garbage}).status is E


def test_the_pack_is_registered_and_documented():
    catalogue = default_catalogue()
    user_side = {ad.UserCanLogon: "kdc", ad.ShareAccessAs: "smb_as"}  # what a user does, proved by doing it
    for cls in ad.CHECKS:
        assert catalogue[cls.id] is cls and cls.id.startswith("smb." if cls is ad.ShareAccessAs else "ad.")
        if cls in user_side:
            assert cls.platform == "any" and cls.transport == user_side[cls]  # a KDC, a file server: any host
            continue
        assert cls.platform == "windows" and cls.transport == ("dns" if cls is ad.DnsRecord else "ldap")
        sentence = cls.sentence_template()
        assert sentence.endswith(".") and sentence[0].isupper() and sentence != cls.id


# --- ad.dns_record (the DC's own DNS, asked by the grader) ----------------------------------------


def test_dns_record_planted_or_missing():
    v = judge(ad.DnsRecord, {"name": "intranet.tssr.lan", "value": "10.77.1.10"}, dns="c01_dns_intranet")
    assert v.status is C and "intranet.tssr.lan. A 10.77.1.10" in v.observed
    v = judge(ad.DnsRecord, {"name": "intranet.tssr.lan", "value": "10.77.1.11"}, dns="c01_dns_intranet")
    assert v.status is N and "ne pointe pas vers 10.77.1.11" in v.message
    v = judge(ad.DnsRecord, {"name": "intranet.tssr.lan", "value": "10.77.2.10"}, dns="c02_dns_intranet")
    assert v.status is N and "n'existe pas dans le DNS du domaine" in v.message


def test_dns_srv_record_of_the_domain():
    v = judge(ad.DnsRecord, {"name": "_ldap._tcp.tssr.lan", "type": "srv", "value": "dc.tssr.lan"},
              dns="c01_dns_ldap_srv")
    assert v.status is C, v.message
    v = judge(ad.DnsRecord, {"name": "dc.tssr.lan", "value": "10.77.1.20"}, dns="c01_dns_dc")
    assert v.status is C  # the provisioned placeholder address was rewritten before boot
    with pytest.raises(ValidationError):
        ad.DnsRecord.Params(name="pas un nom")
