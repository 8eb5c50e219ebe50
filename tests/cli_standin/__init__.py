"""An SSH stand-in for network devices: the real ``cli`` channel talks to it over a real socket.

No Cisco switch or pfSense firewall runs here, so :class:`Standin` serves emulated ones (see
:mod:`tests.cli_standin.server`) answering from recorded outputs: the ntc-templates and
ciscoconfparse samples of ``tests/fixtures/network`` (origin on their first line) and the
recordings of ``recordings/`` (origin on their first line too).
"""

from __future__ import annotations

from pathlib import Path

from tests.cli_standin.server import IosDevice, PfSenseDevice, Standin

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "network"
RECORDINGS = Path(__file__).resolve().parent / "recordings"


def recorded(path: Path) -> str:
    """A recorded output without its origin line (the first line, a comment in the file's syntax)."""
    text = path.read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    assert "origin" in first, f"{path.name}: every recording states its origin on its first line"
    return rest


def show_vlan_brief() -> str:
    """``show vlan brief`` is the first table of ``show vlan`` (IOS prints only that table)."""
    full = recorded(FIXTURES / "cisco" / "cisco_ios_show_vlan.raw")
    return full.split("\n\n")[0] + "\n"


def running_config(text: str) -> str:
    """What IOS prints before the configuration itself."""
    return f"Building configuration...\n\nCurrent configuration : {len(text)} bytes\n{text}"


def cisco_switch(**overrides: object) -> IosDevice:
    """A switch answering the ntc-templates recordings and ciscoconfparse's sample_04 running-config."""
    device = IosDevice(
        outputs={
            "show vlan brief": show_vlan_brief(),
            "show ip interface brief": recorded(FIXTURES / "cisco" / "cisco_ios_show_ip_interface_brief.raw"),
            "show ip route": recorded(FIXTURES / "cisco" / "cisco_ios_show_ip_route.raw"),
            "show interfaces switchport": recorded(FIXTURES / "cisco" / "cisco_ios_show_interfaces_switchport.raw"),
        },
        privileged={"show running-config": running_config(recorded(FIXTURES / "cisco" / "ciscoconfparse_sample_04.ios"))},
    )
    for name, value in overrides.items():
        setattr(device, name, value)
    return device


def cisco_router(**overrides: object) -> IosDevice:
    """An edge router: NAT overload, an ACL applied, logging host, SNMP community (recordings/)."""
    device = cisco_switch(hostname="R1")
    device.privileged = {"show running-config": running_config(recorded(RECORDINGS / "r1_running_config.ios"))}
    for name, value in overrides.items():
        setattr(device, name, value)
    return device


def pfsense_firewall(config: str | None = None, **overrides: object) -> PfSenseDevice:
    """pfSense serving pfsensible's recorded config.xml (or ``config``) at /conf/config.xml."""
    text = config if config is not None else (FIXTURES / "pfsense" / "pfsensible-nat-port-forward.xml").read_text(
        encoding="utf-8")
    device = PfSenseDevice(files={"/conf/config.xml": text, "/cf/conf/config.xml": text})
    for name, value in overrides.items():
        setattr(device, name, value)
    return device


__all__ = ["IosDevice", "PfSenseDevice", "Standin", "cisco_router", "cisco_switch", "pfsense_firewall", "recorded"]
