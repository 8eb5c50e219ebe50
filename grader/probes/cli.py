"""The ``cli`` channel's language: commands typed one by one in a network device's interactive session.

A probe is one command line as a person would type it at the device's prompt (``show vlan brief``
on Cisco IOS, ``/bin/cat /conf/config.xml`` in pfSense's shell), built with :func:`cli`. The result's
``stdout`` is what the device printed between the command and the channel's sentinel (the echo of
the command and the prompt removed, ``--More--`` pagers answered on IOS), ``exit_code`` 0. How the
session is driven, and why its framing cannot be forged, is :mod:`grader.transports.cli`.

``hosts[].options.cli`` (:class:`CliOptions`) says which dialect the device speaks (``ios`` or
``shell``), whether a console menu must be answered first (pfSense: ``menu: "8"``) and which rubric
credential holds the enable secret.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from grader.model import Probe
from grader.probes.channel import ChannelOptions, ChannelSpec


def cli(command: str, timeout: float = 20.0) -> Probe:
    """A command typed in the device's interactive session (``cli`` channel), e.g. ``show vlan brief``."""
    return Probe("cli", command, timeout)


class CliOptions(ChannelOptions):
    """``hosts[].options.cli`` in a rubric."""

    dialect: Literal["ios", "shell"] = "ios"
    port: int | None = Field(default=None, ge=1, le=65535)
    credential: str | None = None  # another rubric credential than the host's
    #: Send ``enable`` (IOS) with the password of this rubric credential when the login
    #: lands in user mode (``>``); some facts (running-config) need privileged mode.
    enable_credential: str | None = None
    #: Answer to a console menu shown at login, e.g. "8" (pfSense: Shell); None: no menu.
    menu: str | None = None
    menu_prompt: str = "Enter an option:"
    login_timeout: float = Field(default=15.0, gt=0, le=120)
    #: Time to get a prompt back after a command that overran its deadline was interrupted.
    resync_timeout: float = Field(default=5.0, gt=0, le=60)


CHANNEL = ChannelSpec("cli", "grader.transports.cli:CliChannel", Options=CliOptions, needs_credential=True)
