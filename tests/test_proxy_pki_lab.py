"""The proxy and PKI checks on the demo room's real hosts (squid 5.7, apache 2.4 with mod_ssl, Debian 12).

Proxy (``proxy-filtrage``, from pc-lan through the router's squid to srv-wan's two virtual hosts):
c01 denies jeux.example before allowing the LAN (conforme), c02 allows first (the forbidden page
is served: non_conforme), c03's router is down (injoignable, never non_conforme). Then, on c01 for
real: squid stopped (« le proxy ne répond pas »), and the WAN server's apache stopped — the
forbidden site down must not pass for a denial, the allowed site down cannot be judged (erreur).

PKI (``https-intranet``, the grader's own TLS handshake with srv-lin, checked against the CA file
read over SSH): c01's certificate is issued by its CA (conforme), c02's apache is stopped
(non_conforme: nothing on 443); started for a moment, it serves its self-signed certificate
(non_conforme, « auto-signé »); c03 is down (injoignable).

Set GRADER_RECORD_DIR to keep the probes' outputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from grader.model import Status
from grader.plugins import default_catalogue
from grader.rubric import load_rubric
from grader.runner import plan, run_jobs

pytestmark = pytest.mark.lab


def _grade(lab, ids=("proxy-filtrage", "https-intranet"), candidates=("01", "02", "03"), moved: dict | None = None):
    """Grade the demo rubric's checks ``ids``; ``moved``: host name -> another address (a host "down")."""
    import rubrics
    from grader.roster import load_roster

    rubric = load_rubric(rubrics.demo_rubric())
    hosts = [h.model_copy(update={"address": (moved or {}).get(h.name, h.address)}) for h in rubric.hosts]
    rubric = rubric.model_copy(update={"checks": [c for c in rubric.checks if c.id in ids], "hosts": hosts})
    roster = [c for c in load_roster(rubrics.demo_roster(), rubric) if c.id in candidates]
    jobs = plan(rubric, roster, default_catalogue())
    reports = run_jobs(jobs, known_hosts_path=lab.known_hosts_path, workers=6)
    results = {(r.candidate, c.check_id): c for r in reports for c in r.results}
    return results, reports


def _record(name: str, reports, candidate: str, host: str) -> None:
    target = os.environ.get("GRADER_RECORD_DIR")
    if not target:
        return
    report = next(r for r in reports if r.candidate == candidate and r.host == host)
    for i, p in enumerate(report.probes):
        text = (f"# origin: grader's {p.transport} probe on the demo room's c{candidate}-{host} "
                "(tests/test_proxy_pki_lab.py)\n"
                f"# command: {p.command}\n# exit: {p.exit_code}\n# --- stdout\n{p.stdout}\n# --- stderr\n{p.stderr}\n"
                "# --- end\n")
        (Path(target) / f"{name}_{i}.txt").write_text(text, encoding="utf-8")


def test_demo_truth_and_evidence(room):
    from grader.lab import demo

    lab, _ = room
    got, reports = _grade(lab)
    want = {(c, k): demo.PLANTED_TRUTH[c][k] for c in ("01", "02", "03") for k in demo.PROXY_CHECK_IDS}
    assert {k: v.status.value for k, v in got.items()} == want
    proxy01, proxy02 = got[("01", "proxy-filtrage")], got[("02", "proxy-filtrage")]
    assert "http://www.example/ : HTTP 200, Via: 1.1 routeur (squid/5.7)" in proxy01.observed
    assert "http://jeux.example/ : HTTP 403, X-Squid-Error: ERR_ACCESS_DENIED 0" in proxy01.observed
    assert "page du site interdit a été servie" in proxy02.message and "jeux.example/ : HTTP 200" in proxy02.observed
    https01, https02 = got[("01", "https-intranet")], got[("02", "https-intranet")]
    assert "sujet CN=intranet.tssr.lan" in https01.observed and "SAN DNS:intranet.tssr.lan" in https01.observed
    assert "IP:10.77.1.10" in https01.observed and "SHA-256 " in https01.observed
    assert "ne répond pas sur le port 443" in https02.message
    # the proxy's requests rode in pc-lan's one SSH exec; the handshake is the grader's own
    by_host = {(r.candidate, r.host): r for r in reports}
    assert by_host[("01", "pc-lan")].outcome.execs == 1
    tls = next(p for p in by_host[("01", "srv-lin")].probes if p.transport == "tls")
    assert tls.exit_code == 0 and len(json.loads(tls.stdout)["chain"]) >= 1
    _record("proxy_lab_c01", reports, "01", "pc-lan")
    _record("proxy_lab_c02", reports, "02", "pc-lan")
    _record("pki_lab_c01", reports, "01", "srv-lin")


def test_proxy_down_is_non_conforme_not_a_refusal(room):
    lab, _ = room
    assert lab.nsenter("c01-routeur", "/usr/bin/systemctl", "stop", "squid").returncode == 0
    try:
        got, _ = _grade(lab, ids=("proxy-filtrage",), candidates=("01",))
    finally:
        assert lab.nsenter("c01-routeur", "/usr/bin/systemctl", "start", "squid", timeout=90).returncode == 0
    v = got[("01", "proxy-filtrage")]
    assert v.status is Status.NON_CONFORME and v.message.startswith("Le proxy ne répond pas sur 10.77.1.65:3128")


def test_sites_down_behind_the_proxy_are_never_a_denial(room):
    """srv-wan's apache stopped: squid still refuses jeux.example itself (before any fetch), but the
    allowed site cannot be fetched: erreur, never conforme and never non_conforme."""
    lab, _ = room
    assert lab.nsenter("c01-srv-wan", "/usr/bin/systemctl", "stop", "apache2").returncode == 0
    try:
        got, _ = _grade(lab, ids=("proxy-filtrage",), candidates=("01", "02"))
    finally:
        assert lab.nsenter("c01-srv-wan", "/usr/bin/systemctl", "start", "apache2", timeout=60).returncode == 0
    v = got[("01", "proxy-filtrage")]
    assert v.status is Status.ERREUR and "ERR_CONNECT_FAIL" in v.message
    assert "X-Squid-Error: ERR_ACCESS_DENIED" in v.observed
    assert got[("02", "proxy-filtrage")].status is Status.NON_CONFORME  # c02's WAN server was left up


def test_self_signed_certificate_served_for_real(room):
    lab, _ = room
    assert lab.nsenter("c02-srv-lin", "/usr/bin/systemctl", "start", "apache2", timeout=60).returncode == 0
    try:
        got, _ = _grade(lab, ids=("https-intranet",), candidates=("02",))
    finally:
        assert lab.nsenter("c02-srv-lin", "/usr/bin/systemctl", "stop", "apache2", timeout=60).returncode == 0
    v = got[("02", "https-intranet")]
    assert v.status is Status.NON_CONFORME and "auto-signé" in v.message
    assert "émetteur CN=intranet.tssr.lan" in v.observed


def test_router_down_makes_the_proxy_check_injoignable(room):
    """The proof passes through the router (``depends_on: [routeur, srv-wan]``): when the router does not
    answer (here: graded at an address nobody has), the proxy check is injoignable, whatever pc-lan saw."""
    lab, _ = room
    got, reports = _grade(lab, ids=("proxy-filtrage", "nat-regle"), candidates=("01",),
                          moved={"routeur": "{{ reseau }}.251"})
    assert {(r.host, r.outcome.reached) for r in reports} == {("routeur", False), ("pc-lan", True)}
    v = got[("01", "proxy-filtrage")]
    assert v.status is Status.INJOIGNABLE and "routeur" in v.message
