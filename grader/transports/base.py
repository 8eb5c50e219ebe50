"""The contract every transport (channel) honours, built-in or a third party's.

A *channel* carries a host's declared probes over one protocol and brings raw results back:
``ssh`` (one exec), ``winrm`` (one PowerShell run), ``ldap`` (one bind, a few searches),
``snmp`` (one request per batch), ``http`` (requests sent by the grader itself)... The
runner groups a host's probes by channel and calls each channel once per host, so the
batching contract "one round trip per transport per host" lives in one place.

A host has one *primary* channel (``hosts[].transport``), asked first: when it cannot reach
the host, no other channel is asked and every check of the host takes its status (a site
answering while its host is down proves nothing about that host). Other channels, the
grader-side ones (``http``, ``dns``, ``tls``...) included, run after it; one that fails makes
only its own checks ``injoignable``/``erreur``.

A channel never judges. It raises :class:`~grader.errors.Unreachable` when it could not
reach the host at all (the probes it carried become ``injoignable``) and
:class:`~grader.errors.TransportError` when it reached the host but could not run the
batch (``erreur``). A probe that ran badly is a :class:`~grader.model.ProbeResult` with
``error`` or ``timed_out`` set, judged ``erreur`` by :func:`grader.check.evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from grader.errors import CredentialError
from grader.model import Msg, Probe, ProbeResult, RefOf, Text
from grader.probes.channel import ChannelOptions, ChannelSpec
from grader.transports.deadline import HostDeadline


@dataclass(frozen=True)
class Peer:
    """Another host of the rubric as a channel that goes through it sees it (a VM's hypervisor), for one
    candidate: its address and credential rendered, its transport and login settings."""

    name: str
    address: str
    transport: str
    port: int | None
    credential: Any  # grader.rubric.Credential, or None
    sudo: bool = False
    connect_timeout: float = 5.0
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # its channels' options, rendered


@dataclass(frozen=True)
class HostContext:
    """What a channel may know of the host it talks to. Secrets are resolved by the channel itself."""

    name: str
    address: str
    platform: str
    port: int | None  # the host's primary port (``hosts[].port``), when the channel is the primary one
    credential: Any  # grader.rubric.Credential of the host's primary transport, or None
    credentials: Mapping[str, Any]  # every credential of the rubric, by name (for option references)
    options: Any  # this channel's validated ChannelOptions (or the defaults)
    sudo: bool = False
    connect_timeout: float = 5.0
    known_hosts: Path | None = None
    #: True when this channel is the host's primary transport: its silence means "host down"
    #: (injoignable); a secondary channel's silence on a host already reached is an observation.
    primary: bool = False
    #: The other hosts of the same candidate, by name (a VM's channel goes through its hypervisor).
    peers: Mapping[str, Peer] = field(default_factory=dict)
    #: The host's one budget (see :mod:`grader.transports.deadline`): register what you open with
    #: ``deadline.guard(close)``; give no wait more than ``deadline.remaining()``. Unstarted (never
    #: expiring) when a channel is called outside a run.
    deadline: HostDeadline = field(default_factory=lambda: HostDeadline(3600.0))


def probe_fields(probe: Probe) -> dict[str, Any]:
    """The fields every :class:`ProbeResult` of ``probe`` carries, ``started`` stamped now (UTC, ms).

    For channels that run a host's probes one by one (``ldap``, ``smb``): each result says
    which probe it answers and when that probe started, whether it ran, failed or was refused.
    """
    return {"key": probe.key, "transport": probe.transport, "command": probe.command,
            "started": datetime.now(UTC).isoformat(timespec="milliseconds")}


def option_credential(host: HostContext, name: str | None, *, missing: str | Msg) -> Any:
    """The credential a channel logs in with: the one its options name, else the host's own.

    For channels that may read with another account than the host's login (an ``ldap`` or
    ``smb`` read with a domain account: ``options: {<channel>: {credential: <name>}}``), so
    that they all resolve it alike and fail alike: a name the rubric does not declare, or no
    account at all (``missing`` says how to give one), is :class:`CredentialError`, never a
    silent fall back to another account.
    """
    if name is not None:
        ref = host.credentials.get(name)
        if ref is None:
            raise CredentialError(Msg("identifiants « {name} » non déclarés dans le barème", name=name))
        return ref
    if host.credential is None:
        raise CredentialError(missing)
    return host.credential


@dataclass
class Collected:
    """What one channel brought back from one host. ``login``, ``host_key`` and anomalies are :data:`Text`."""

    results: dict[str, ProbeResult]
    login: Text = ""  # which account was used, never the secret ("grader (clé)")
    host_key: Text = ""  # identity of the host as the protocol proved it (SSH key, TLS certificate)
    anomalies: list[Text] = field(default_factory=list)  # output outside the framing, warnings
    execs: int = 0  # remote executions / requests this channel used
    complete: bool = True  # False when the batch did not run to its end

    login_ref = RefOf("login")
    host_key_ref = RefOf("host_key")

    def said_anomalies(self) -> list[Text]:
        """Each anomaly as said (a :class:`Msg` keeps its reference): what :class:`HostOutcome` takes."""
        return list(self.anomalies)


class Channel:
    """Base of channels. Subclasses set ``spec`` (or ``name`` and the flags) and implement :meth:`collect`.

    A built-in channel is declared in its probe language (``grader/probes/<name>.py``) and its class
    takes ``name``, ``Options`` and the flags from that one :class:`ChannelSpec`.
    """

    spec: ClassVar[ChannelSpec | None] = None
    name: ClassVar[str] = ""
    #: True for the grader's own probes (http, dns...): no host login, and a check on such a channel
    #: needs no ``options.<channel>`` on its host (it is not the host's primary transport).
    grader_side: ClassVar[bool] = False
    #: True when the host must name a credential to use this channel as its primary transport.
    needs_credential: ClassVar[bool] = False
    #: Probe languages this channel runs for a host whose primary transport it is (see ChannelSpec.carries).
    carries: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type[ChannelOptions]] = ChannelOptions

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            cls.name, cls.Options = spec.name, spec.Options
            cls.grader_side, cls.needs_credential = spec.grader_side, spec.needs_credential
            cls.carries = spec.carries

    def start(self, jobs: Sequence[Any]) -> None:
        """Run-level set-up before any host is graded (e.g. a syslog collector starts listening).

        Called once per run, only when some job uses this channel; ``jobs`` are the run's
        :class:`grader.runner.HostJob` (their probes and hosts' options say what to prepare).
        """

    def stop(self) -> None:
        """Run-level tear-down, always called after the run (also on Ctrl-C or a crash)."""

    def explain(self, host: HostContext) -> Text | None:
        """Why the host is silent, as another vantage point sees it (the ``guest`` channel asks the VM's
        hypervisor: « VM arrêtée »), or None when this channel cannot tell. Asked by the runner for a
        host whose primary channel could not reach it, when this channel is configured on the host
        (``options.<name>``) but not its fallback. Never raises: what it could not learn is None."""
        return None

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:  # pragma: no cover - abstract
        raise NotImplementedError
