"""The ``sd_flags`` field of an ldap search: which parts of nTSecurityDescriptor the DC returns.

Against a real Samba DC (several pages, a plain reader account) in tests/test_gpo_lab.py.
"""

from __future__ import annotations

import json

import pytest

from grader.probes.ldap import search, validate_spec


def test_sd_flags_is_part_of_the_search_identity():
    plain = search("(objectClass=organizationalUnit)", ["nTSecurityDescriptor"])
    dacl = search("(objectClass=organizationalUnit)", ["nTSecurityDescriptor"], sd_flags=4)
    assert plain.key != dacl.key  # a search without the control returns nothing to a plain user: not the same read
    assert "sd_flags" not in json.loads(plain.command)  # searches declared before the field keep their identity
    assert json.loads(dacl.command)["sd_flags"] == 4


@pytest.mark.parametrize("flags", [0, 16, True, "4", 4.0])
def test_bad_sd_flags_are_refused(flags):
    spec = {"base": "", "scope": "sub", "filter": "(ou=*)", "attributes": ["ou"], "sd_flags": flags}
    with pytest.raises(ValueError, match="sd_flags"):
        validate_spec(spec)
