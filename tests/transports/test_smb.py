"""The ``smb`` channel without a server: declared reads, and failures mapped to the channel contract.

Reads against a real SMB server (Samba's SYSVOL, a refused password, a DC that is down) are
in tests/test_gpo_lab.py.
"""

from __future__ import annotations

import json
import socket

import pytest
from smbprotocol import exceptions as sx

from grader.errors import CredentialError, TransportError, Unreachable
from grader.plugins import default_transports
from grader.probes import smb as smb_probes
from grader.rubric import Credential
from grader.transports import smb
from grader.transports.base import HostContext


def test_registered_as_a_builtin_channel():
    assert default_transports()["smb"] is smb.SmbChannel


def test_read_tree_is_canonical():
    a = smb_probes.read_tree("SYSVOL", "*/Policies/*/", ["User\\Registry.pol", "GPT.INI", "GPT.INI"])
    b = smb_probes.read_tree("SYSVOL", "*/Policies/*", ["GPT.INI", "User/Registry.pol"])
    assert a == b and a.transport == "smb"  # equal reads share one run
    assert json.loads(a.command) == {"share": "SYSVOL", "dirs": "*/Policies/*", "files": ["GPT.INI", "User/Registry.pol"]}


@pytest.mark.parametrize("share, dirs, files", [
    ("SYS\\VOL", "*", ["a"]), ("", "*", ["a"]), ("SYSVOL", "../x", ["a"]), ("SYSVOL", "*", []),
    ("SYSVOL", "*", ["*.pol"]), ("SYSVOL", "*", ["../../etc/passwd"]),
])
def test_bad_reads_are_refused(share, dirs, files):
    with pytest.raises(ValueError):
        smb_probes.read_tree(share, dirs, files)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _context(tmp_path, port: int, credential: str | None = "lecteur") -> HostContext:
    secret = tmp_path / "pw"
    secret.write_text("secret\n")
    secret.chmod(0o600)
    cred = Credential(username="grader@tssr.lan", password_file=str(secret))
    return HostContext(name="dc", address="127.0.0.1", platform="windows", port=None, credential=None,
                       credentials={"lecteur": cred}, options=smb_probes.SmbOptions(credential=credential, port=port),
                       connect_timeout=2.0)


def test_closed_port_is_injoignable(tmp_path):
    probe = smb_probes.read_tree("SYSVOL", "*/Policies/*", ["GPT.INI"])
    with pytest.raises(Unreachable, match="refuse la connexion"):
        smb.SmbChannel().collect(_context(tmp_path, _free_port()), [probe])


def test_no_account_is_a_configuration_error(tmp_path):
    ctx = _context(tmp_path, 445, credential=None)
    with pytest.raises(CredentialError, match="options: {smb: {credential"):
        smb.SmbChannel().collect(ctx, [smb_probes.read_tree("SYSVOL", "*", ["GPT.INI"])])
    ctx = _context(tmp_path, 445, credential="inconnu")
    with pytest.raises(CredentialError, match="inconnu"):
        smb.SmbChannel().collect(ctx, [smb_probes.read_tree("SYSVOL", "*", ["GPT.INI"])])


@pytest.mark.parametrize("exc, kind, words", [
    (ValueError("Failed to connect to '10.0.0.1:445': [Errno 111] Connection refused"), Unreachable, "refuse"),
    (ValueError("Failed to connect to '10.0.0.1:445': timed out"), Unreachable, "délai"),
    (ValueError("Failed to connect to '10.0.0.1:445': [Errno 113] No route to host"), Unreachable, "aucune route"),
    (TimeoutError("timed out"), Unreachable, "délai"),
    (sx.SMBAuthenticationError("Failed to authenticate with server: STATUS_LOGON_FAILURE"), TransportError,
     "authentification SMB refusée"),
    (RuntimeError("something else"), TransportError, "impossible"),
])
def test_session_failures_are_mapped(exc, kind, words):
    mapped = smb._session_failure("10.0.0.1:445", "grader@tssr.lan", exc)
    assert isinstance(mapped, kind) and words in str(mapped)


# --- the read logic, on a fake ``smbclient`` module (answers as smbclient does: SMBOSError with NT status) ----

ACCESS_DENIED, NOT_FOUND = 0xC0000022, 0xC0000034


class _Entry:
    def __init__(self, name: str, is_dir: bool):
        self.name, self._dir = name, is_dir

    def is_dir(self) -> bool:
        return self._dir


class _File:
    def __init__(self, data: bytes):
        self.data = data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self, n: int) -> bytes:
        return self.data[:n]


class FakeSmbClient:
    """A tree of dicts (directories), bytes (files) and exceptions (what the server answers for that name)."""

    def __init__(self, tree: dict, logon: Exception | None = None):
        self.tree, self.logon, self.sessions, self.reset = tree, logon, [], 0

    def register_session(self, server, **kwargs):
        if self.logon:
            raise self.logon
        self.sessions.append((server, kwargs["username"], kwargs["port"]))

    def reset_connection_cache(self, **kwargs):
        self.reset += 1

    def _walk(self, path: str):
        parts = [p for p in path.split("\\") if p][1:]  # drop the server
        node: object = self.tree
        for part in parts:
            if isinstance(node, Exception):
                raise node
            if not isinstance(node, dict):
                raise sx.SMBOSError(0xC0000103, path)  # STATUS_NOT_A_DIRECTORY
            match = next((k for k in node if k.lower() == part.lower()), None)  # SMB names ignore case
            if match is None:
                raise sx.SMBOSError(NOT_FOUND, path)
            node = node[match]
        if isinstance(node, Exception):
            raise node
        return node

    def scandir(self, path, **kwargs):
        node = self._walk(path)
        return [_Entry(k, isinstance(v, dict)) for k, v in node.items()]

    def open_file(self, path, mode="rb", share_access=None, **kwargs):
        node = self._walk(path)
        if isinstance(node, dict):
            raise sx.SMBOSError(0xC00000BA, path)  # STATUS_FILE_IS_A_DIRECTORY
        return _File(node)


def _tree(**gpos: dict) -> dict:
    return {"SYSVOL": {"tssr.lan": {"Policies": gpos, "scripts": {}}}}


def _collect(tmp_path, monkeypatch, fake: FakeSmbClient, *probes):
    import sys

    monkeypatch.setitem(sys.modules, "smbclient", fake)
    return smb.SmbChannel().collect(_context(tmp_path, 445), list(probes))


def _dirs(result) -> dict:
    return {d["path"]: d["files"] for d in smb_probes.parse_output(result)}


def test_reads_every_matching_folder_in_one_session(tmp_path, monkeypatch):
    fake = FakeSmbClient(_tree(**{"{A}": {"GPT.INI": b"[General]\r\nVersion=0\r\n", "USER": {"Registry.pol": b"PReg"}},
                                  "{B}": {"GPT.INI": b"x", "USER": {"Registry.pol": sx.SMBOSError(ACCESS_DENIED, "r")}},
                                  "notes.txt": b"not a folder"}))
    probe = smb_probes.read_tree("SYSVOL", "*/Policies/*", ["GPT.INI", "User/Registry.pol", "Machine/Registry.pol"])
    got = _collect(tmp_path, monkeypatch, fake, probe)
    assert fake.sessions == [("127.0.0.1", "grader@tssr.lan", 445)] and fake.reset == 1
    assert got.execs == 1 and got.complete
    files = _dirs(got.results[probe.key])
    assert sorted(files) == ["tssr.lan/Policies/{A}", "tssr.lan/Policies/{B}"]  # files are not matched by "*"
    a, b = files["tssr.lan/Policies/{A}"], files["tssr.lan/Policies/{B}"]
    assert smb_probes.file_bytes(a["User/Registry.pol"]) == b"PReg" and a["Machine/Registry.pol"] == {"absent": True}
    assert b["User/Registry.pol"] == {"error": "accès refusé (0xC0000022)"}  # unreadable is not absent


def test_missing_levels_match_nothing_and_an_unreadable_share_is_the_probe_error(tmp_path, monkeypatch):
    probe = smb_probes.read_tree("SYSVOL", "*/Policies/*", ["GPT.INI"])
    got = _collect(tmp_path, monkeypatch, FakeSmbClient({"SYSVOL": {"tssr.lan": {}}}), probe)
    assert _dirs(got.results[probe.key]) == {}
    got = _collect(tmp_path, monkeypatch, FakeSmbClient({"SYSVOL": sx.SMBOSError(ACCESS_DENIED, "s")}), probe)
    assert "accès refusé" in got.results[probe.key].error


def test_caps_cut_and_mark_truncated(tmp_path, monkeypatch):
    monkeypatch.setattr(smb, "FILE_CAP", 8)
    monkeypatch.setattr(smb, "DIR_CAP", 2)
    fake = FakeSmbClient(_tree(**{f"{{{i}}}": {"GPT.INI": b"0123456789"} for i in range(3)}))
    probe = smb_probes.read_tree("SYSVOL", "*/Policies/*", ["GPT.INI"])
    result = _collect(tmp_path, monkeypatch, fake, probe).results[probe.key]
    files = _dirs(result)
    assert result.truncated and len(files) == 2
    entry = next(iter(files.values()))["GPT.INI"]
    assert entry["truncated"] and smb_probes.file_bytes(entry) == b"01234567" and entry["size"] == 9


def test_a_session_lost_midway_fails_the_rest(tmp_path, monkeypatch):
    fake = FakeSmbClient(_tree(**{"{A}": {"GPT.INI": sx.SMBConnectionClosed("closed")}}))
    first = smb_probes.read_tree("SYSVOL", "*/Policies/*", ["GPT.INI"])
    second = smb_probes.read_tree("SYSVOL", "*/Policies/*", ["User/Registry.pol"])
    got = _collect(tmp_path, monkeypatch, fake, first, second)
    assert not got.complete
    assert all("session SMB perdue" in got.results[p.key].error for p in (first, second))


def test_refused_logon_is_erreur_not_injoignable(tmp_path, monkeypatch):
    fake = FakeSmbClient({}, logon=sx.SMBAuthenticationError("Failed to authenticate"))
    with pytest.raises(TransportError, match="authentification SMB refusée pour grader@tssr.lan") as info:
        _collect(tmp_path, monkeypatch, fake, smb_probes.read_tree("SYSVOL", "*", ["GPT.INI"]))
    assert "secret" not in str(info.value)
