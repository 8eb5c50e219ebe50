"""What the voip lab plants on a phone, without booting it (the booted phones are tests/test_voip_lab.py)."""

from __future__ import annotations

from pathlib import Path

from grader.lab import voip


def test_phone_registers_its_extensions_and_does_not_run_kamailio(tmp_path: Path) -> None:
    wants = tmp_path / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "kamailio.service").symlink_to("/lib/systemd/system/kamailio.service")  # as the package enables it
    voip.plant_phone(tmp_path, ["101", "102"], "10.77.45.20")
    accounts = (tmp_path / "etc/baresip/accounts").read_text()
    assert accounts.splitlines() == ["<sip:101@10.77.45.20>;regint=120", "<sip:102@10.77.45.20>;regint=120"]
    assert "module_app\t\taccount.so" in (tmp_path / "etc/baresip/config").read_text()
    assert (wants / voip.PHONE_UNIT).is_symlink() and not (wants / "kamailio.service").is_symlink()
