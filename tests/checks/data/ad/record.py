"""Record the LDAP channel's answers from the demo room's Samba DCs as judge fixtures.

Run as root while the demo lab is up (``flock /run/grader-lab.lock grader lab up``, or inside
the tests' ``room``): ``python tests/checks/data/ad/record.py``. Each file is one ProbeResult of the
real channel (LDAPS, bind as grader@tssr.lan) against a candidate's DC, as planted by
grader/lab/demo.py; its ``origin`` says which.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from checks.windows import ad
from grader.lab import demo, samba
from grader.lab.hosts import DEFAULT_STATE
from grader.probes.dns import query
from grader.probes.ldap import LdapOptions
from grader.rubric import Credential
from grader.transports.base import HostContext
from grader.transports.dns import ask
from grader.transports.ldap import LdapChannel

PROBES = {
    "ous": ad.OUS, "domain": ad.DOMAIN, "gpos": ad.GPOS, "principals": ad.PRINCIPALS,
    **{f"user_{login}": ad.UserAccount().probes(ad.UserAccount.Params(login=login))["user"]
       for login in ("alice", "bdurand", "zoe")},
    **{f"computer_{name.lower()}": ad.ComputerInOu().probes(ad.ComputerInOu.Params(name=name, ou="Postes"))["computer"]
       for name in ("PC-COMPTA01", "PC-ABSENT")},
}

DNS = {"dns_intranet": query("intranet.tssr.lan", "A"), "dns_ldap_srv": query("_ldap._tcp.tssr.lan", "SRV"),
       "dns_dc": query("dc.tssr.lan", "A")}


def main() -> None:
    cred = Credential(username=samba.READER_UPN, password_file=str(samba.reader_password_path(DEFAULT_STATE)))
    for cand in ("01", "02"):
        ip = demo.DEMO_ROOM[cand][demo.DC]
        ctx = HostContext(name="dc", address=ip, platform="windows", port=None, credential=None,
                          credentials={"lecteur": cred},
                          options=LdapOptions(credential="lecteur", ca_file=str(samba.ca_path(DEFAULT_STATE))))
        got = LdapChannel().collect(ctx, list(PROBES.values()))
        when = datetime.now(UTC).strftime("%Y-%m-%d")
        for name, probe in PROBES.items():
            r = got.results[probe.key]
            record = {
                "origin": f"Samba 4.17 AD DC of demo candidate {cand} ({ip}, grader/lab/demo.py), read by "
                          f"grader's ldap channel over LDAPS as {samba.READER_UPN} on {when}",
                "command": r.command, "exit_code": r.exit_code, "stderr": r.stderr, "truncated": r.truncated,
                "output": json.loads(r.stdout) if r.stdout else None,
            }
            (HERE / f"c{cand}_{name}.json").write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n",
                                                      encoding="utf-8")
        print(cand, got.login, got.host_key, len(got.results))
        for name, probe in DNS.items():
            r = ask(probe, ip)
            record = {"origin": f"Samba 4.17 AD DC of demo candidate {cand} ({ip}, grader/lab/demo.py): its internal "
                                f"DNS server asked by grader's dns channel (dnspython) on {when}",
                      "command": r.command, "exit_code": r.exit_code, "stderr": r.stderr, "truncated": r.truncated,
                      "output": json.loads(r.stdout) if r.stdout else None}
            (HERE / f"c{cand}_{name}.json").write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n",
                                                      encoding="utf-8")


if __name__ == "__main__":
    main()
