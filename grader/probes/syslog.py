"""The ``syslog`` channel's language: a token awaited by the grader's own collector.

A syslog probe's command is the token itself (:data:`grader.check.TOKEN`, replaced per host and per
run); an active ssh probe of the same check makes the host log a line carrying it. The output (exit
code 0 when a line with the token arrived, 1 otherwise)::

    écoute udp 0.0.0.0:514 ; source attendue 10.77.1.10 ; attente 5 s
    jeton 2026-11-22T10:00:00.123Z 10.77.1.10:41234 udp/514 <13>Nov 22 10:00:00 srv-lin grader-probe: 3f2a…
    autre 2026-11-22T09:59:58.001Z 10.77.1.10:41234 udp/514 <30>Nov 22 09:59:58 srv-lin systemd[1]: …

``jeton`` lines contain the token (from any source; the first three per source, eight sources at most
besides the host's own), ``autre`` lines are the host's other lines (the five latest), so the jury sees
whether the host sends anything at all. A last line says when the collector lost lines the token may
have been in (its caps hit by a flood, datagrams the kernel dropped unread, TCP connections refused;
counted since the host's grading began)::

    saturé 120 lignes perdues : 0 portant le jeton, 0 de 10.77.1.10, 120 non lues (tampon du noyau plein), …

A token is awaited from the start of the run; the runner's (16 lowercase hex digits) is found in a
line wherever it is not part of a longer run of hex digits. Where the collector listens is
``hosts[].options.syslog`` (:class:`SyslogOptions`); the collector is :mod:`grader.transports.syslog`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from grader.probes.channel import ChannelOptions, ChannelSpec


class SyslogOptions(ChannelOptions):
    """``hosts[].options.syslog``: where the grader collects this host's lines."""

    listen: str = "0.0.0.0"
    port: int = Field(default=514, ge=1, le=65535)
    protocol: Literal["udp", "tcp", "both"] = "udp"
    wait: float = Field(default=5.0, gt=0, le=120)

    def endpoints(self) -> list[tuple[str, str, int]]:
        protocols = ("udp", "tcp") if self.protocol == "both" else (self.protocol,)
        return [(proto, self.listen, self.port) for proto in protocols]


CHANNEL = ChannelSpec("syslog", "grader.transports.syslog:SyslogChannel", Options=SyslogOptions, grader_side=True)
