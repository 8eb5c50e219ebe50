"""Judge of ``ad.ou_delegation`` on the OU DACLs and principals the real ``ldap`` channel read from a Samba DC.

data/gpo/c01_ou_acls.json and c01_principals.json come from the lab DC where
``samba-tool dsacl set`` added the wizard's reset-password ACEs on Comptabilité for GG_Compta
(origin in each file). Adversarial variants replace Comptabilité's descriptor with one made by
the independent encoder of test_gpo_parsers: a deny ACE, an ACE for another group, an ACE
inherited by the wrong object class, an unreadable descriptor.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.windows.delegation import OuDelegation
from grader.check import evaluate
from grader.model import ProbeResult, Status
from grader.plugins import default_catalogue
from tests.checks.test_gpo_parsers import GG_COMPTA, RESET, USER, ace, descriptor

DATA = Path(__file__).parent / "data" / "gpo"
C, N, E = Status.CONFORME, Status.NON_CONFORME, Status.ERREUR
DL_COMPTA = "S-1-5-21-2024001512-1505681119-3730347374-1107"  # DL_Partage_Compta in the recording
GROUP_CLASS = "bf967a9c-0de6-11d0-a285-00aa003049e2"
ASK = {"ou": "Comptabilité", "group": "GG_Compta", "task": "reset_password"}


def record(name: str) -> dict:
    data = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    assert data["origin"].startswith("Samba 4.17.12 AD DC in the grader lab")
    return data


def result(data: dict) -> ProbeResult:
    return ProbeResult(key="k", transport="ldap", command=data["command"],
                       stdout=json.dumps(data["output"], ensure_ascii=False), exit_code=data["exit_code"],
                       truncated=data["truncated"])


def judge(params: dict, acls: dict | None = None):
    acls = acls or record("c01_ou_acls")
    principals = record("c01_principals")
    check, p = OuDelegation(), OuDelegation.Params(**params)
    declared = check.probes(p)
    assert json.loads(declared["acls"].command) == json.loads(acls["command"])
    assert json.loads(declared["acls"].command)["sd_flags"] == 4  # the DACL alone: readable by a plain user
    assert json.loads(declared["principals"].command) == json.loads(principals["command"])
    return evaluate(check, p, {"acls": result(acls), "principals": result(principals)})


def with_descriptor(raw: bytes | dict | None) -> dict:
    data = copy.deepcopy(record("c01_ou_acls"))
    entry = next(e for e in data["output"]["entries"] if e["dn"].startswith("OU=Comptabilité"))
    if raw is None:
        entry["attributes"].pop("nTSecurityDescriptor")
    else:
        value = raw if isinstance(raw, dict) else {"base64": base64.b64encode(raw).decode()}
        entry["attributes"]["nTSecurityDescriptor"] = [value]
    return data


def test_registered_with_its_jury_sentence():
    assert default_catalogue()["ad.ou_delegation"] is OuDelegation
    assert OuDelegation.sentence(OuDelegation.Params(**ASK)) == \
        "Le contrôle de l'UO Comptabilité est délégué à GG_Compta (réinitialiser les mots de passe des utilisateurs)."


def test_delegation_written_by_the_wizard_is_conforme():
    v = judge(ASK)
    assert v.status is C, v
    assert GG_COMPTA in v.observed and "Réinitialiser le mot de passe" in v.observed
    assert "objets Utilisateur descendants" in v.observed


def test_other_tasks_are_not_given_by_a_password_delegation():
    for task in ("create_delete_users", "manage_users", "group_membership", "full_control"):
        v = judge({**ASK, "task": task})
        assert v.status is N and "aucune autorisation" in v.message, task


def test_acl_for_another_group_is_non_conforme():
    v = judge({**ASK, "group": "DL_Partage_Compta"})
    assert v.status is N and "ACE de DL_Partage_Compta" in v.observed and ": aucune" in v.observed
    # Variant: the only delegation ACE names DL_Partage_Compta (GG_Compta is its member: that does not count).
    v = judge(ASK, acls=with_descriptor(descriptor(ace(5, 0x0A, 0x100, DL_COMPTA, RESET, USER))))
    assert v.status is N


def test_deny_ace_takes_the_right_away():
    raw = descriptor(ace(6, 0x0A, 0x100, GG_COMPTA, RESET, USER), ace(5, 0x0A, 0x100, GG_COMPTA, RESET, USER))
    v = judge(ASK, acls=with_descriptor(raw))
    assert v.status is N and "refusé explicitement" in v.message and "refuser" in v.observed
    # An inherited deny loses to an explicit allow (explicit ACEs come first in the access check).
    raw = descriptor(ace(5, 0x0A, 0x100, GG_COMPTA, RESET, USER), ace(6, 0x1A, 0x100, GG_COMPTA, RESET, USER))
    assert judge(ASK, acls=with_descriptor(raw)).status is C


def test_ace_inherited_by_the_wrong_class_or_not_inherited():
    raw = descriptor(ace(5, 0x0A, 0x100, GG_COMPTA, RESET, GROUP_CLASS))  # on groups, not users
    assert judge(ASK, acls=with_descriptor(raw)).status is N
    raw = descriptor(ace(5, 0x00, 0x100, GG_COMPTA, RESET, None))  # on the OU itself only
    assert judge(ASK, acls=with_descriptor(raw)).status is N
    raw = descriptor(ace(5, 0x0A, 0x100, GG_COMPTA, "ab721a53-1e2f-11d0-9819-00aa0040529b", USER))  # change, not reset
    assert judge(ASK, acls=with_descriptor(raw)).status is N


def test_broader_rights_cover_the_task():
    raw = descriptor(ace(0, 0x02, 0x10000000, GG_COMPTA))  # GENERIC_ALL on the OU and every descendant
    for task in ("reset_password", "create_delete_users", "manage_users", "group_membership", "full_control"):
        assert judge({**ASK, "task": task}, acls=with_descriptor(raw)).status is C, task
    raw = descriptor(ace(5, 0x0A, 0x100, GG_COMPTA, None, USER))  # every extended right on users
    assert judge(ASK, acls=with_descriptor(raw)).status is C


def test_manage_users_needs_both_aces_of_the_wizard():
    create = ace(5, 0x02, 0x3, GG_COMPTA, USER, None)
    full = ace(5, 0x0A, 0xF01FF, GG_COMPTA, None, USER)
    assert judge({**ASK, "task": "manage_users"}, acls=with_descriptor(descriptor(create, full))).status is C
    v = judge({**ASK, "task": "manage_users"}, acls=with_descriptor(descriptor(create)))
    assert v.status is N and "contrôle total" in v.message


def test_missing_ou_or_group_is_non_conforme():
    v = judge({**ASK, "ou": "Comptabilite"})
    assert v.status is N and "accents" in v.message
    v = judge({**ASK, "group": "GG_Inconnu"})
    assert v.status is N and "n'existe pas" in v.message


def test_descriptor_absent_or_unreadable_is_erreur():
    v = judge(ASK, acls=with_descriptor(None))
    assert v.status is E and "DACL" in v.message
    assert judge(ASK, acls=with_descriptor(b"\x01\x00\x04")).status is E
    assert judge(ASK, acls=with_descriptor({"text": "oops"})).status is E


def test_no_dacl_is_not_a_delegation():
    v = judge(ASK, acls=with_descriptor(descriptor(dacl=False)))
    assert v.status is N and "pas de DACL" in v.observed


def test_failed_search_is_erreur():
    acls = record("c01_ou_acls")
    failed = ProbeResult("k", "ldap", acls["command"], stderr="insufficientAccessRights", exit_code=50)
    v = evaluate(OuDelegation(), OuDelegation.Params(**ASK),
                 {"acls": failed, "principals": result(record("c01_principals"))})
    assert v.status is E and "50" in v.message


@pytest.mark.parametrize("params", [{**ASK, "task": "tout"}, {**ASK, "ou": " Comptabilité"}, {**ASK, "group": ""}])
def test_params_are_validated(params):
    with pytest.raises(ValidationError):
        OuDelegation.Params(**params)
