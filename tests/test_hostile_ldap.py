"""No hostile LDAP server holds a host (issue: a hostile exam room, part 1).

A real LDAP server on loopback (:mod:`tests.hostile.ldap`: LDAPv3 over TLS, ldap3's own ASN.1 and
pyasn1's BER) and the real :class:`~grader.transports.ldap.LdapChannel` with a started
:class:`~grader.transports.deadline.HostDeadline`: an honest server is read (the stand-in really
speaks LDAP to the real client); a server whose paging never ends makes the probe ``timed_out``
(« pagination sans fin ») within the probe's time, the host's deadline or ``MAX_PAGES`` pages,
after the client really followed its cookies; a server that binds, answers the RootDSE and then
says nothing (or one byte now and then) is ended by the host's deadline, and no probe is a success.
Every wait here is bounded: the channel runs in a daemon thread, and a test fails, never hangs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.errors import TransportError, Unreachable
from grader.model import Probe
from grader.probes.ldap import LdapOptions, parse_output, search
from grader.rubric import Credential
from grader.transports.base import Collected, HostContext
from grader.transports.deadline import HostDeadline
from grader.transports.ldap import MAX_PAGES, LdapChannel
from tests.hostile import within
from tests.hostile.ldap import NAMING_CONTEXT, HostileLdap

#: What a test waits at most for a channel that ignores every bound, before failing.
GIVE_UP = 25.0


@pytest.fixture
def servers() -> Iterator[dict[str, HostileLdap]]:
    started: dict[str, HostileLdap] = {}
    yield started
    for server in started.values():
        server.close()


@pytest.fixture
def deadlines() -> Iterator[list[HostDeadline]]:
    made: list[HostDeadline] = []
    yield made
    for deadline in made:
        deadline.cancel()


def _context(server: HostileLdap, tmp_path: Path, deadline: HostDeadline, **options: object) -> HostContext:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    cred = Credential(username="grader@tssr.lan", password_file=str(secret))
    opts = LdapOptions.model_validate({"credential": "lecteur", "port": server.port, "ca_file": server.ca_file,
                                       **options})
    return HostContext(name="dc", address="127.0.0.1", platform="windows", port=server.port, credential=None,
                       credentials={"lecteur": cred}, options=opts, connect_timeout=2.0, deadline=deadline)


@dataclass
class Outcome:
    """What ``collect`` did: returned (``collected``) or raised (``raised``)."""

    collected: Collected | None
    raised: BaseException | None


def _collect_within(seconds: float, host: HostContext, probes: Sequence[Probe]) -> Outcome:
    """``LdapChannel().collect`` bounded by :func:`tests.hostile.within`: the test fails, never hangs."""

    def collect() -> Outcome:
        try:
            return Outcome(LdapChannel().collect(host, probes), None)
        except Exception as exc:  # noqa: BLE001 - handed to the test, which judges it
            return Outcome(None, exc)

    return within(seconds, collect)  # type: ignore[no-any-return]


def _started(deadlines: list[HostDeadline], seconds: float) -> HostDeadline:
    deadline = HostDeadline(seconds).start()
    deadlines.append(deadline)
    return deadline


# --- a control: the stand-in speaks LDAP to the real client ---------------------------------------


@pytest.mark.parametrize("trust", ["ca_file", "verify_tls_false"])
def test_an_honest_server_is_read_by_the_real_channel(tmp_path: Path, servers, deadlines, trust: str) -> None:
    server = servers["honest"] = HostileLdap("honest")
    options = {"verify_tls": False} if trust == "verify_tls_false" else {}
    host = _context(server, tmp_path, _started(deadlines, 30), **options)
    probe = search("(objectClass=user)", ["cn", "sAMAccountName"], timeout=5)
    outcome = _collect_within(GIVE_UP, host, [probe])
    assert outcome.raised is None, outcome.raised
    assert outcome.collected is not None
    result = outcome.collected.results[probe.key]
    assert result.ok and not result.timed_out and result.exit_code == 0
    base, entries = parse_output(result)
    assert base == NAMING_CONTEXT  # read from the server's RootDSE
    assert entries == [{"dn": f"CN=Administrator,CN=Users,{NAMING_CONTEXT}",
                        "attributes": {"cn": ["Administrator"], "sAMAccountName": ["Administrator"]}}]
    assert outcome.collected.complete and str(outcome.collected.host_key).startswith("TLS SHA256:")
    assert (server.binds, server.searches, server.pages) == (1, 2, 1)
    assert bool(outcome.collected.anomalies) == (trust == "verify_tls_false")  # « certificat TLS ... non vérifié »


# --- paging that never ends ---------------------------------------------------------------------------


def _paging_cut(outcome: Outcome, probe: Probe, server: HostileLdap) -> None:
    """The probe could not be evaluated because paging did not end; the client did follow the server's cookies."""
    assert outcome.raised is None, outcome.raised
    assert outcome.collected is not None
    result = outcome.collected.results[probe.key]
    assert not result.ok
    assert result.timed_out and str(result.stderr).startswith("pagination sans fin"), (result.stderr, result.error)
    assert server.pages > 1 and server.cookies_followed == server.pages - 1


def test_endless_paging_ends_with_the_probes_time(tmp_path: Path, servers, deadlines) -> None:
    server = servers["endless_paging"] = HostileLdap("endless_paging", page_delay=0.01)  # far from MAX_PAGES
    probe = search("(objectClass=user)", ["cn"], timeout=2)
    deadline = _started(deadlines, 60)
    outcome = _collect_within(probe.timeout + GIVE_UP, _context(server, tmp_path, deadline), [probe])
    assert not deadline.expired  # the probe's own time ended it (how fast: bench/bench_hostile.py)
    _paging_cut(outcome, probe, server)
    assert server.pages < MAX_PAGES


def test_endless_paging_ends_with_the_hosts_deadline(tmp_path: Path, servers, deadlines) -> None:
    server = servers["endless_paging"] = HostileLdap("endless_paging", page_delay=0.01)  # far from MAX_PAGES
    deadline = _started(deadlines, 1.5)
    probe = search("(objectClass=user)", ["cn"], timeout=120)
    outcome = _collect_within(deadline.seconds + GIVE_UP, _context(server, tmp_path, deadline), [probe])
    assert deadline.expired
    assert outcome.collected is not None
    result = outcome.collected.results[probe.key]
    assert not result.ok and 1 < server.pages < MAX_PAGES
    # Paging stops between two pages (« pagination sans fin »), or the deadline closes the session during one.
    assert ((result.timed_out and str(result.stderr).startswith("pagination sans fin"))
            or str(result.error).startswith("sonde coupée par l'échéance de l'hôte")), (result.stderr, result.error)


def test_endless_paging_ends_after_max_pages(tmp_path: Path, servers, deadlines) -> None:
    server = servers["endless_paging"] = HostileLdap("endless_paging")
    probe = search("(objectClass=user)", ["cn"], timeout=120)
    outcome = _collect_within(60, _context(server, tmp_path, _started(deadlines, 120)), [probe])
    _paging_cut(outcome, probe, server)
    assert server.pages == MAX_PAGES
    assert outcome.collected is not None
    assert str(outcome.collected.results[probe.key].stderr).startswith(f"pagination sans fin : {MAX_PAGES} pages")


# --- a session that binds, then says nothing ----------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["silent_after_bind", "trickle_after_bind"])
def test_a_server_silent_after_bind_is_ended_by_the_hosts_deadline(tmp_path: Path, servers, deadlines,
                                                                   behaviour: str) -> None:
    # trickle_after_bind sends a byte every 0.5 s: each one rearms ldap3's receive timeout, so only the
    # deadline can end the wait; silent_after_bind would otherwise last ldap3's receive timeout (15 s here).
    server = servers[behaviour] = HostileLdap(behaviour, trickle=0.5)
    deadline = _started(deadlines, 3)
    probes = [search("(objectClass=user)", ["cn"], timeout=2), search("(objectClass=group)", ["cn"], timeout=2)]
    outcome = _collect_within(deadline.seconds + GIVE_UP, _context(server, tmp_path, deadline), probes)
    assert deadline.expired  # the deadline ended it, not ldap3's receive timeout (« connexion LDAP perdue »)
    assert (server.binds, server.searches, server.pages) == (1, 2, 0)  # bound, RootDSE read, the first search hung
    if outcome.raised is not None:  # the host could not be evaluated: erreur or injoignable, never a crash
        assert isinstance(outcome.raised, (TransportError, Unreachable)), repr(outcome.raised)
        return
    assert outcome.collected is not None
    assert not outcome.collected.complete
    for probe in probes:
        result = outcome.collected.results[probe.key]
        assert not result.ok and result.stdout == ""  # never a normal (empty) answer
        assert result.timed_out or result.error is not None
        assert str(result.error).startswith("sonde coupée par l'échéance de l'hôte"), result.error
