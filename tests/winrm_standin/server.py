"""A WS-Management shell server on 127.0.0.1 that the real pywinrm client talks to over a real socket.

What it implements, and where its shape comes from:

* HTTP/1.1 on ``/wsman``, keep-alive (NTLM authenticates a connection, not a request);
  optional TLS with a self-signed certificate made at start (``tls=True``);
* authentication: ``Basic`` (checked on every request) and ``Negotiate`` carrying raw NTLM,
  accepted by pyspnego's NTLM acceptor (``spnego.server(protocol="ntlm")``, credentials from
  the file named by ``NTLM_USER_FILE``), with the WinRM message encryption of [MS-WSMV]
  2.2.9.1.1 once authenticated over http: ``multipart/encrypted;
  protocol="application/HTTP-SPNEGO-session-encrypted"``, each part a 4-byte signature length,
  the 16-byte NTLM signature and the sealed SOAP message; a failed authentication is HTTP 401;
* ``Negotiate`` carrying Kerberos (``auth=("kerberos",)``, ``keytab=``): a raw Kerberos token (what
  pywinrm's pykerberos client sends) or a SPNEGO one, accepted by pyspnego's GSSAPI acceptor with
  the keys of ``HTTP/<name>`` exported from a real KDC (``KRB5_KTNAME``); the acceptor's AP-REP goes
  back in the 200 answer's ``WWW-Authenticate`` (mutual authentication), and the message
  encryption is the same framing with the Kerberos wrap token's header as the signature
  (``wrap_winrm``/``unwrap_winrm``, RFC 4121 IOV wrap);
* the WinRS actions of [MS-WSMV] 3.1.4: Create (shell), Command, Send (stdin), Receive
  (streams, then ``CommandState/Done`` with the exit code), Signal, Delete; a Receive with
  nothing to say within the request's ``OperationTimeout`` is the ``w:TimedOut`` fault
  (WSManFault code 2150858793), which pywinrm retries; an unknown shell is the
  ``w:InvalidSelectors`` fault. Response envelopes follow pypsrp's exchanges recorded against
  Windows Server (jborean93/pypsrp, ``tests/responses/test_winrs_send.yml`` and
  ``test_winrs_bad_cmd_id.yml``) and pywinrm's (``winrm/tests/conftest.py``).

The command itself is played by :mod:`tests.winrm_standin.powershell` from recordings.
Every SOAP action received is logged in ``Standin.actions`` (tests count them).
"""

from __future__ import annotations

import base64
import datetime
import importlib.util
import ipaddress
import os
import re
import ssl
import struct
import tempfile
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from xml.sax.saxutils import escape

import spnego

from tests.winrm_standin import powershell
from tests.winrm_standin.powershell import WindowsHost

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
}
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ACTIONS = {
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create": "Create",
    f"{SHELL}/Command": "Command",
    f"{SHELL}/Send": "Send",
    f"{SHELL}/Receive": "Receive",
    f"{SHELL}/Signal": "Signal",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete": "Delete",
}
BOUNDARY = b"--Encrypted Boundary"
ENCRYPTED = "application/HTTP-SPNEGO-session-encrypted"
TIMED_OUT = 2150858793
# Why a Windows host refuses the shell itself (the Create action), as WS-Management faults:
#: GPO "Allow Remote Shell Access" disabled (HKLM\Software\Policies\Microsoft\Windows\WinRM\Service\WinRS
#: AllowRemoteShellAccess=0): ERROR_WSMAN_REMOTESHELLS_NOT_ALLOWED 0x803381AC, its text as wsmerror.h
#: states it (dahall/Vanara, PInvoke/WsmSvc/wsmerror.cs).
REMOTE_SHELLS_NOT_ALLOWED = ("s:Receiver", "w:InternalError",
                             ("The WS-Management service cannot process the request. The service is configured to "
                              "not accept any remote shell requests. "), 0x803381AC)
#: A local account in Administrators whose network logon UAC filters (LocalAccountTokenFilterPolicy=0):
#: "Access is denied." with E_ACCESSDENIED 0x80070005 as pywinrm reports it (ansible/wazuh-ansible#581,
#: diyan/pywinrm#338).
ACCESS_DENIED = ("s:Receiver", "w:InternalError", "Access is denied. ", 0x80070005)
REFUSALS = {"AllowRemoteShellAccess": REMOTE_SHELLS_NOT_ALLOWED, "LocalAccountTokenFilterPolicy": ACCESS_DENIED}
MAX_RECEIVE = 96 * 1024  # bytes of output per ReceiveResponse (fits pywinrm's 150 KiB MaxEnvelopeSize)

_ENV_HEAD = ('<s:Envelope xml:lang="en-US" xmlns:s="{s}" xmlns:a="{a}" xmlns:x="{x}" xmlns:w="{w}" xmlns:rsp="{rsp}" '
             'xmlns:p="{p}">').format(**NS)


# --- NTLM credentials for pyspnego's acceptor -------------------------------------------------

class _NtlmUsers:
    """One credential file for every stand-in of the process (pyspnego reads NTLM_USER_FILE)."""

    lock = threading.Lock()
    path: Path | None = None
    lines: ClassVar[set[str]] = set()

    @classmethod
    def add(cls, user: str, password: str) -> None:
        domain, _, name = user.rpartition("\\")
        if ":" in user or ":" in password:
            raise ValueError("NTLM_USER_FILE cannot hold ':' in a user name or password")
        with cls.lock:
            if cls.path is None:
                fd, name_ = tempfile.mkstemp(prefix="standin-ntlm-", suffix=".txt")
                os.close(fd)
                cls.path = Path(name_)
            cls.lines.add(f"{domain}:{name}:{password}")
            cls.path.write_text("\n".join(sorted(cls.lines)) + "\n", encoding="utf-8")
            os.environ["NTLM_USER_FILE"] = str(cls.path)


# --- shells and commands --------------------------------------------------------------------

@dataclass
class Command:
    name: str
    arguments: list[str]
    stdin: bytearray = field(default_factory=bytearray)
    run: powershell.Run | None = None
    sent_out: int = 0  # chunks of run.stdout already returned
    sent_err: int = 0
    done_reported: bool = False


@dataclass
class Shell:
    codepage: str
    commands: dict[str, Command] = field(default_factory=dict)


class Standin:
    """One Windows host on a random port of 127.0.0.1 (``start()``/``stop()``, or a context manager)."""

    def __init__(self, host: WindowsHost | None = None, *, users: dict[str, str] | None = None,
                 auth: tuple[str, ...] = ("basic", "ntlm"), tls: bool = False, address: str = "127.0.0.1",
                 max_wait: float | None = None, keytab: Path | None = None):
        self.host = host or WindowsHost()
        self.users = dict(users or {"grader": "Mot-de-passe-1"})
        self.auth = auth
        self.tls = tls
        self.address = address
        self.max_wait = max_wait  # cap on a Receive's wait (None: the request's OperationTimeout)
        # WS-Management faults to answer instead of an action: {"Create": (code, subcode, reason, wsman code)}
        self.faults: dict[str, tuple[str, str, str, int]] = {}
        self.actions: list[str] = []
        self.commands: list[tuple[str, list[str]]] = []
        self.auth_failures = 0
        self.connections = 0
        self.encrypted_messages = 0
        self.log: list[str] = []
        self.shells: dict[str, Shell] = {}
        self.lock = threading.Lock()
        self.cert_file: Path | None = None
        self.cert_der: bytes = b""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if "ntlm" in auth:
            for user, password in self.users.items():
                _NtlmUsers.add(user, password)
        self.kerberos_clients: list[str] = []  # client principals the Kerberos acceptor authenticated
        if "kerberos" in auth:
            if keytab is None:
                raise ValueError("a Kerberos stand-in needs the keytab of its HTTP/<name> service principal")
            if importlib.util.find_spec("gssapi") is None or importlib.util.find_spec("krb5") is None:
                raise RuntimeError("the Kerberos acceptor is pyspnego's GSSAPI one: pip install 'pyspnego[kerberos]' "
                                   "(the project's 'kerberos' extra)")
            os.environ["KRB5_KTNAME"] = f"FILE:{keytab}"  # read by the GSSAPI acceptor (process-wide, tests only)
            os.environ["KRB5RCACHETYPE"] = "none"  # no replay cache file under /var/tmp

    # -- lifecycle

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def start(self) -> Standin:
        server = ThreadingHTTPServer((self.address, 0), _handler(self))
        server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            cert, key = self._make_certificate()
            context.load_cert_chain(cert, key)
            server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="standin-winrm")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Standin:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def refuse_shell(self, why: str) -> Standin:
        """Answer Create with the fault Windows gives for ``why`` (a key of :data:`REFUSALS`)."""
        self.faults["Create"] = REFUSALS[why]
        return self

    def count(self, action: str) -> int:
        return self.actions.count(action)

    def _make_certificate(self) -> tuple[str, str]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.address)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(self.address)),
                                                            x509.DNSName("localhost")]), critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        folder = Path(tempfile.mkdtemp(prefix="standin-tls-"))
        cert_file, key_file = folder / "cert.pem", folder / "key.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        self.cert_file, self.cert_der = cert_file, cert.public_bytes(serialization.Encoding.DER)
        return str(cert_file), str(key_file)

    # -- WS-Management

    def soap(self, body: bytes) -> tuple[int, str]:
        """Answer one SOAP request: (HTTP status, response envelope)."""
        root = ET.fromstring(body)
        action = _text(root, "s:Header/a:Action")
        message_id = _text(root, "s:Header/a:MessageID")
        short = ACTIONS.get(action, action)
        with self.lock:
            self.actions.append(short)
        if short in self.faults:
            code, subcode, reason, wsman_code = self.faults[short]
            return 500, _fault(message_id, code, subcode, reason, wsman_code, reason)
        shell_id = ""
        for selector in root.iterfind("s:Header/w:SelectorSet/w:Selector", NS):
            if selector.get("Name") == "ShellId":
                shell_id = selector.text or ""
        if short == "Create":
            options = {o.get("Name"): o.text for o in root.iterfind("s:Header/w:OptionSet/w:Option", NS)}
            shell_id = str(uuid.uuid4()).upper()
            self.shells[shell_id] = Shell(codepage=options.get("WINRS_CODEPAGE") or "437")
            return 200, self._create_response(message_id, shell_id)
        shell = self.shells.get(shell_id)
        if shell is None:
            return 500, _fault(message_id, "s:Sender", "w:InvalidSelectors",
                               "The WS-Management service cannot process the request because the request contained "
                               "invalid selectors for the resource. ", 2150858843,
                               "The shell identifier is not valid.")
        if short == "Delete":
            del self.shells[shell_id]
            return 200, _envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", message_id, "")
        if short == "Command":
            command = _text(root, "s:Body/rsp:CommandLine/rsp:Command")
            arguments: list[str] = []
            if " " in command:  # a whole command line in rsp:Command (pywinrm's run_cmd): cmd.exe splits it
                command, *arguments = command.split()
            for node in root.iterfind("s:Body/rsp:CommandLine/rsp:Arguments", NS):
                arguments += (node.text or "").split()
            command_id = str(uuid.uuid4()).upper()
            shell.commands[command_id] = Command(command, arguments)
            self.commands.append((command, arguments))
            return 200, _envelope(f"{SHELL}/CommandResponse", message_id,
                                  f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId>"
                                  "</rsp:CommandResponse>")
        if short == "Send":
            stream = root.find("s:Body/rsp:Send/rsp:Stream", NS)
            cmd = shell.commands.get(stream.get("CommandId", "") if stream is not None else "")
            if stream is None or cmd is None:
                return 500, _invalid_command(message_id)
            cmd.stdin += base64.b64decode(stream.text or "")
            if (stream.get("End") or "").lower() == "true" and cmd.run is None:
                cmd.run = powershell.start(self.host, cmd.name, cmd.arguments, bytes(cmd.stdin), self.log.append)
            return 200, _envelope(f"{SHELL}/SendResponse", message_id, "<rsp:SendResponse/>")
        if short == "Receive":
            desired = root.find("s:Body/rsp:Receive/rsp:DesiredStream", NS)
            cmd = shell.commands.get(desired.get("CommandId", "") if desired is not None else "")
            if cmd is None:
                return 500, _invalid_command(message_id)
            if cmd.run is None:  # no stdin sent (console mode): play with empty stdin
                cmd.run = powershell.start(self.host, cmd.name, cmd.arguments, bytes(cmd.stdin), self.log.append)
            return self._receive(message_id, desired.get("CommandId", ""), cmd,  # type: ignore[union-attr]
                                 _seconds(_text(root, "s:Header/w:OperationTimeout")))
        if short == "Signal":
            signal = root.find("s:Body/rsp:Signal", NS)
            cmd = shell.commands.pop(signal.get("CommandId", "") if signal is not None else "", None)
            if cmd is not None and cmd.run is not None and not cmd.run.done:
                cmd.run.stopped = True
            return 200, _envelope(f"{SHELL}/SignalResponse", message_id, "<rsp:SignalResponse/>")
        return 500, _fault(message_id, "s:Sender", "a:ActionNotSupported",
                           "The action is not supported by the service.", 2150858770, action)

    def _receive(self, message_id: str, command_id: str, cmd: Command, timeout: float) -> tuple[int, str]:
        run = cmd.run
        assert run is not None
        wait = timeout if self.max_wait is None else min(timeout, self.max_wait)
        with run.cond:
            run.cond.wait_for(lambda: run.done or len(run.stdout) > cmd.sent_out or len(run.stderr) > cmd.sent_err,
                              timeout=wait)
            streams: list[str] = []
            size = 0
            for name, chunks, attr in (("stdout", run.stdout, "sent_out"), ("stderr", run.stderr, "sent_err")):
                while getattr(cmd, attr) < len(chunks) and size < MAX_RECEIVE:
                    data = chunks[getattr(cmd, attr)]
                    setattr(cmd, attr, getattr(cmd, attr) + 1)
                    size += len(data)
                    streams.append(f'<rsp:Stream Name="{name}" CommandId="{command_id}">'
                                   f"{base64.b64encode(data).decode()}</rsp:Stream>")
            finished = run.done and cmd.sent_out == len(run.stdout) and cmd.sent_err == len(run.stderr)
            exit_code = run.exit_code
        if not streams and not finished:
            return 500, _fault(message_id, "s:Receiver", "w:TimedOut",
                               "The WS-Management service cannot complete the operation within the time specified "
                               "in OperationTimeout.  ", TIMED_OUT,
                               "The WS-Management service cannot complete the operation within the time specified "
                               "in OperationTimeout.  ")
        if finished:
            streams.append(f'<rsp:Stream Name="stdout" CommandId="{command_id}" End="true"></rsp:Stream>')
            streams.append(f'<rsp:Stream Name="stderr" CommandId="{command_id}" End="true"></rsp:Stream>')
            state = (f'<rsp:CommandState CommandId="{command_id}" State="{SHELL}/CommandState/Done">'
                     f"<rsp:ExitCode>{exit_code}</rsp:ExitCode></rsp:CommandState>")
        else:
            state = f'<rsp:CommandState CommandId="{command_id}" State="{SHELL}/CommandState/Running"/>'
        return 200, _envelope(f"{SHELL}/ReceiveResponse", message_id,
                              "<rsp:ReceiveResponse>" + "".join(streams) + state + "</rsp:ReceiveResponse>")

    def _create_response(self, message_id: str, shell_id: str) -> str:
        scheme = "https" if self.tls else "http"
        address = f"{scheme}://{self.address}:{self.port}/wsman"
        body = (f"<x:ResourceCreated><a:Address>{address}</a:Address><a:ReferenceParameters>"
                f"<w:ResourceURI>{SHELL}/cmd</w:ResourceURI><w:SelectorSet>"
                f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
                f'</x:ResourceCreated><rsp:Shell xmlns:rsp="{SHELL}"><rsp:ShellId>{shell_id}</rsp:ShellId>'
                f"<rsp:ResourceUri>{SHELL}/cmd</rsp:ResourceUri><rsp:Owner>{escape(next(iter(self.users)))}"
                "</rsp:Owner><rsp:ClientIP>127.0.0.1</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut>"
                "<rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
                "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
                "</rsp:Shell>")
        return _envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", message_id, body)


def _text(root: ET.Element, path: str) -> str:
    node = root.find(path, NS)
    return (node.text or "").strip() if node is not None else ""


def _seconds(duration: str) -> float:
    m = re.fullmatch(r"PT(\d+(?:\.\d+)?)S", duration)
    return float(m.group(1)) if m else 20.0


def _envelope(action: str, relates_to: str, body: str) -> str:
    return (f"{_ENV_HEAD}<s:Header><a:Action>{action}</a:Action>"
            f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
            "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
            f"<a:RelatesTo>{relates_to}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>")


def _fault(relates_to: str, code: str, subcode: str, reason: str, wsman_code: int, message: str) -> str:
    body = (f"<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode>"
            f'</s:Code><s:Reason><s:Text xml:lang="en-US">{escape(reason)}</s:Text></s:Reason><s:Detail>'
            f'<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="{wsman_code}" '
            f'Machine="127.0.0.1"><f:Message>{escape(message)}</f:Message></f:WSManFault></s:Detail></s:Fault>')
    return _envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


def _invalid_command(relates_to: str) -> str:
    return _fault(relates_to, "s:Sender", "w:InvalidSelectors",
                  "The WS-Management service cannot process the request because the request contained invalid "
                  "selectors for the resource. ", 2150858843,
                  "The Windows Remote Shell received a request to perform an operation on a command identifier "
                  "that does not exist. Either the command has completed execution or the client specified an "
                  "invalid command identifier. ")


# --- HTTP ---------------------------------------------------------------------------------

def _handler(standin: Standin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
        server_version = "Microsoft-HTTPAPI/2.0"
        sys_version = ""

        def setup(self) -> None:
            if standin.tls:
                self.request.settimeout(10)
                self.request.do_handshake()
                self.request.settimeout(None)
            super().setup()
            self.ntlm = None  # this connection's NTLM or Kerberos context, once authenticated (or in progress)
            self.ntlm_done = False
            self.final_token: str | None = None  # Kerberos AP-REP, sent with the next answer (mutual auth)
            with standin.lock:
                standin.connections += 1

        def handle(self) -> None:
            try:
                super().handle()
            except (ssl.SSLError, ConnectionError, TimeoutError):
                pass

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.rstrip("/") != "/wsman":
                self._reply(404, b"", "text/plain")
                return
            if not self._authenticated():
                return
            content_type = self.headers.get("Content-Type", "")
            encrypted = "multipart/encrypted" in content_type and ENCRYPTED in content_type
            if encrypted:
                try:
                    body = self._decrypt(body)
                except (ValueError, spnego.exceptions.SpnegoError):
                    self._reply(400, b"", "text/plain")
                    return
                standin.encrypted_messages += 1
            if not body:  # pywinrm's empty message that sets up the encryption context
                self._reply(200, b"", "application/soap+xml;charset=UTF-8")
                return
            try:
                status, answer = standin.soap(body)
            except ET.ParseError:
                self._reply(400, b"", "text/plain")
                return
            data = answer.encode("utf-8")
            if encrypted:
                self._reply(status, self._encrypt(data),
                            f'multipart/encrypted;protocol="{ENCRYPTED}";boundary="Encrypted Boundary"')
            else:
                self._reply(status, data, "application/soap+xml;charset=UTF-8")

        # -- authentication

        def _authenticated(self) -> bool:
            header = self.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            scheme = scheme.lower()
            if self.ntlm_done and not header:
                return True
            if scheme == "basic" and "basic" in standin.auth:
                user, _, password = base64.b64decode(token).decode("utf-8", "replace").partition(":")
                if standin.users.get(user) == password:
                    return True
                return self._refuse()
            if scheme in ("negotiate", "ntlm") and {"ntlm", "kerberos"} & set(standin.auth):
                try:
                    raw = base64.b64decode(token)
                    if self.ntlm is None or self.ntlm_done:
                        protocol = _token_protocol(raw)
                        if protocol == "ntlm" and "ntlm" not in standin.auth or (
                                protocol != "ntlm" and "kerberos" not in standin.auth):
                            return self._refuse()
                        self.ntlm, self.ntlm_done = spnego.server(protocol=protocol), False
                    reply = self.ntlm.step(raw)
                except Exception:  # noqa: BLE001 - any acceptor failure is a refused login (pyspnego 0.12 raises
                    # AttributeError when GSSAPI rejects a ticket it has no key for): HTTP 401, as Windows answers
                    self.ntlm = None
                    return self._refuse()
                if not self.ntlm.complete:
                    self._reply(401, b"", "text/plain",
                                [("WWW-Authenticate", "Negotiate " + base64.b64encode(reply or b"").decode())])
                    return False
                self.ntlm_done = True
                if reply:  # Kerberos: the AP-REP that proves the service to the client
                    self.final_token = "Negotiate " + base64.b64encode(reply).decode()
                if self.ntlm.negotiated_protocol == "kerberos":
                    with standin.lock:
                        standin.kerberos_clients.append(str(self.ntlm.client_principal))
                return True
            return self._refuse(count=bool(header))

        def _refuse(self, count: bool = True) -> bool:
            if count:
                with standin.lock:
                    standin.auth_failures += 1
            offers = []
            if {"ntlm", "kerberos"} & set(standin.auth):
                offers.append(("WWW-Authenticate", "Negotiate"))
            if "basic" in standin.auth:
                offers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
            self._reply(401, b"", "text/plain", offers)
            return False

        # -- [MS-WSMV] 2.2.9.1.1 encryption

        def _decrypt(self, body: bytes) -> bytes:
            message = b""
            parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
            if len(parts) % 2:
                raise ValueError("odd number of MIME parts")
            for i in range(0, len(parts), 2):
                header, payload = parts[i], parts[i + 1]
                m = re.search(rb"Length=(\d+)", header)
                if not m or ENCRYPTED.encode() not in header:
                    raise ValueError("missing OriginalContent length")
                payload = payload.removesuffix(BOUNDARY + b"--\r\n")
                prefix = b"\tContent-Type: application/octet-stream\r\n"
                if not payload.startswith(prefix):
                    raise ValueError("missing octet-stream part")
                payload = payload[len(prefix):]
                (sig_len,) = struct.unpack("<I", payload[:4])
                signature, sealed = payload[4:4 + sig_len], payload[4 + sig_len:]
                plain = self.ntlm.unwrap_winrm(signature, sealed)  # type: ignore[union-attr]
                if len(plain) != int(m.group(1)):
                    raise ValueError("length mismatch")
                message += plain
            return message

        def _encrypt(self, data: bytes) -> bytes:
            wrapped = self.ntlm.wrap_winrm(data)  # type: ignore[union-attr]
            signature, sealed = wrapped.header, wrapped.data
            return (BOUNDARY + b"\r\n\tContent-Type: " + ENCRYPTED.encode() + b"\r\n"
                    b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(data)).encode()
                    + b"\r\n" + BOUNDARY + b"\r\n\tContent-Type: application/octet-stream\r\n"
                    + struct.pack("<I", len(signature)) + signature + sealed + BOUNDARY + b"--\r\n")

        def _reply(self, status: int, data: bytes, content_type: str,
                   headers: list[tuple[str, str]] | None = None) -> None:
            self.send_response(status)
            if self.final_token and status != 401:
                self.send_header("WWW-Authenticate", self.final_token)
                self.final_token = None
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers or []:
                self.send_header(name, value)
            self.end_headers()
            if data:
                self.wfile.write(data)

    return Handler


def _token_protocol(token: bytes) -> str:
    """Which acceptor a Negotiate token needs: raw NTLM, a raw Kerberos AP-REQ, or SPNEGO around either."""
    if token.startswith(b"NTLMSSP\0"):
        return "ntlm"
    if KRB5_OID in token[:24]:
        return "kerberos"
    return "negotiate"


KRB5_OID = bytes.fromhex("06092a864886f712010202")  # 1.2.840.113554.1.2.2, the GSS-API token header's mech
