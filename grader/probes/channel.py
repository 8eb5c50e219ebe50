"""What the rubric and the planner know of a channel, without its connection code.

A channel is declared by a :class:`ChannelSpec`: its name, the ``Options`` model of
``hosts[].options.<name>``, two flags, and where its implementation lives. Validating a rubric
and listing checks need the declaration only; the implementation (and paramiko, ldap3, pysnmp,
smbprotocol...) is imported when a run opens connections (:meth:`ChannelSpec.load`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


class ChannelOptions(BaseModel):
    """Per-host settings of a channel, written in a rubric under ``hosts[].options.<channel>``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


@dataclass(frozen=True)
class ChannelSpec:
    """A channel as declared.

    :param name: the ``transport`` of the probes it carries and of the hosts it is the primary transport of.
    :param implementation: ``"module:Class"`` of its :class:`~grader.transports.base.Channel`, imported on
        first use; or the class itself (a third party's channel registered as a class).
    :param Options: the model of ``hosts[].options.<name>``.
    :param grader_side: the grader's own probes (http, dns...): no host login, and a check on this
        channel needs no ``options.<name>`` on its host. Like every channel, it runs only once the
        host's primary channel has reached the host.
    :param needs_credential: a host must name a credential to use this channel as its primary transport.
    :param carries: the probe languages (other channels' names) this channel runs for its host: a host
        whose primary transport it is sends it those probes (``guest`` runs ``ssh`` probes in a VM).
    """

    name: str
    implementation: str | type[Any]
    Options: type[ChannelOptions] = ChannelOptions
    grader_side: bool = False
    needs_credential: bool = False
    carries: tuple[str, ...] = ()

    @classmethod
    def of(cls, channel: type[Any]) -> ChannelSpec:
        """The declaration of a channel class (how a third party's channel registered as a class is seen)."""
        declared = getattr(channel, "spec", None)
        if isinstance(declared, ChannelSpec):
            return declared
        return cls(channel.name, channel, channel.Options, channel.grader_side, channel.needs_credential,
                   tuple(getattr(channel, "carries", ())))

    def load(self) -> type[Any]:
        """The channel class, a :class:`~grader.transports.base.Channel` (imported now if declared by its address).

        Typed ``Any`` here on purpose: the probe languages never import the connection layer.
        """
        if not isinstance(self.implementation, str):
            return self.implementation
        module, _, attr = self.implementation.partition(":")
        return getattr(importlib.import_module(module), attr)
