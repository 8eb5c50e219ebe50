"""The ``ssh_peer`` channel: each probe's command run on its peer through the ``ssh`` channel itself.

Nothing SSH-specific lives here: a peer is given a :class:`~grader.transports.base.HostContext` of
its own (its address and port, the credential the probe names or the host's, its ``sudo``, the
run's known-hosts file: the peer's key is checked like any host's) and the ``ssh`` channel runs
the command in its batch envelope, with the same deadlines and caps. The result is given back
under the probe's own key. The host itself is refused as its own peer (a log line found on the
machine that wrote it proves no delivery).

A peer that cannot be reached: when no probe's peer could be reached, the channel raises
:class:`~grader.errors.Unreachable` (its checks are ``injoignable``, B named); when others were
read, that probe alone carries the reason as its ``error`` (``erreur``): the runner's verdict for
a channel is all or nothing, and a check whose own collector answered must not take another's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from grader.errors import CredentialError, Unreachable, said
from grader.model import Msg, Probe, ProbeResult
from grader.probes.ssh_peer import CHANNEL, validate_spec
from grader.transports.base import Channel, Collected, HostContext, probe_fields
from grader.transports.ssh import SshChannel


class SshPeerChannel(Channel):
    """The ``ssh_peer`` channel (grader side): one SSH batch per probe, on the probe's peer."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        results: dict[str, ProbeResult] = {}
        logins: list[str | Msg] = []
        anomalies: list[str | Msg] = []
        unreachable: list[Unreachable] = []
        for probe in probes:
            try:
                spec = validate_spec(json.loads(probe.command))
            except ValueError as exc:
                results[probe.key] = ProbeResult(**probe_fields(probe), error=Msg("commande distante invalide : "
                                                                                  "{error}", error=str(exc)))
                continue
            if spec["host"] == host.address:
                results[probe.key] = ProbeResult(**probe_fields(probe), error=Msg(
                    "l'hôte {host} ne peut pas être son propre témoin : le barème doit nommer une autre machine",
                    host=host.address))
                continue
            credential = host.credential
            if spec["credential"] is not None:
                credential = host.credentials.get(spec["credential"])
                if credential is None:
                    raise CredentialError(Msg("identifiants « {name} » non déclarés dans le barème",
                                              name=spec["credential"]))
            peer = replace(host, name=f"{host.name}→{spec['host']}", address=spec["host"], port=spec["port"],
                           credential=credential, sudo=spec["sudo"], options=None, primary=False)
            inner = Probe("ssh", spec["command"], probe.timeout, active=probe.active)
            try:
                got = SshChannel().collect(peer, [inner])
            except Unreachable as exc:
                unreachable.append(exc)
                results[probe.key] = ProbeResult(**probe_fields(probe), error=Msg(
                    "témoin {host} injoignable : {reason}", host=spec["host"], reason=said(exc)))
                continue
            answer = got.results.get(inner.key)
            results[probe.key] = (replace(answer, key=probe.key, transport=probe.transport, command=probe.command)
                                  if answer is not None else
                                  ProbeResult(**probe_fields(probe), error=Msg("aucune réponse de {host}",
                                                                               host=spec["host"])))
            logins.append(Msg("{login} sur {host}", login=got.login, host=spec["host"]))
            anomalies += got.said_anomalies()
        if unreachable and len(unreachable) == len(results):
            raise unreachable[0]
        return Collected(results, login=logins[0] if logins else "", anomalies=anomalies, execs=len(logins))
