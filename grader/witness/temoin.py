#!/usr/bin/python3
"""grader-temoin: the exam's witness (« témoin »), a tiny TCP service of the exam centre.

It runs on the exam's WAN and LAN servers (never on a candidate's machine) so that the network
checks (``network.nat_works``, ``network.port_forward``, ``network.port_filtered``,
``vpn.reaches``) can prove from the far side which source address a connection arrived with.
For each connection it reads one line (the grader's token) and answers, on the same connection::

    TEMOIN <its hostname> <peer address it saw> <token>

then closes it. The protocol is the lab's (``grader.lab.router``): a line that is not a token
(letters, digits, ``.``, ``_``, ``:``, ``-``, at most 128 of them) is refused with ``REFUS ...``,
a line longer than ``--max-line`` bytes as well; a connection that sends nothing before the
read deadline gets the answer without a token (it still learns nothing but its own address).

Stdlib only, one file, read-only towards the host: it writes nothing, logs one short line per
connection on stderr (the journal under systemd) and is bounded everywhere: ``--max-connections``
at once (more are refused at once), ``--deadline`` seconds per connection whatever the peer does,
``--max-line`` bytes read. Installed by ``grader witness install HOST``, or by hand with the
unit ``grader-temoin.service`` (``grader witness unit`` prints both).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import socket
import sys
import threading
import time

VERSION = "1"
DEFAULT_PORT = 7777
TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _log(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(message, file=sys.stderr, flush=True)


def _peer(address: str) -> str:
    """An IPv4 peer seen on a dual-stack socket (``::ffff:10.0.0.1``) is said as IPv4, as the checks compare it."""
    return address[7:] if address.lower().startswith("::ffff:") and "." in address else address


def _hostname() -> str:
    name = socket.gethostname().strip()
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64] or "inconnu"


def read_line(conn: socket.socket, max_line: int, until: float) -> tuple[bytes | None, str]:
    """One line, at most ``max_line`` bytes, before ``until``: (line, why it ended).

    Why: ``ligne`` (a line or the end of the peer's data), ``delai`` (deadline, what came so far is
    returned), ``trop-long`` (``max_line`` bytes without an end of line: None).
    """
    data = b""
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return data, "delai"
        conn.settimeout(left)
        try:
            chunk = conn.recv(max_line + 1 - len(data))
        except (TimeoutError, socket.timeout):  # noqa: UP041 - distinct classes before Python 3.10
            return data, "delai"
        except OSError:
            return data, "ligne"
        if not chunk:
            return data, "ligne"
        data += chunk
        if b"\n" in data:
            return data.split(b"\n", 1)[0], "ligne"
        if len(data) > max_line:
            return None, "trop-long"


def answer(line: bytes | None, why: str, hostname: str, peer: str) -> tuple[str, str]:
    """(the answer line, what the journal says) for what was read."""
    if line is None:
        return "REFUS ligne trop longue\n", "refus: ligne trop longue"
    text = line.rstrip(b"\r").strip()
    if not text:
        return f"TEMOIN {hostname} {peer}\n", "sans jeton" + (" (délai)" if why == "delai" else "")
    try:
        token = text.decode("ascii")
    except UnicodeDecodeError:
        token = ""
    if not TOKEN.fullmatch(token):
        return "REFUS jeton invalide\n", "refus: jeton invalide"
    return f"TEMOIN {hostname} {peer} {token}\n", "jeton reçu"


def handle(conn: socket.socket, peer: str, *, hostname: str, deadline: float, read_for: float, max_line: int) -> None:
    """One connection, closed before ``deadline`` seconds whatever the peer does."""
    start = time.monotonic()
    until = start + deadline
    try:
        line, why = read_line(conn, max_line, min(until, start + read_for))
        text, said = answer(line, why, hostname, peer)
        left = until - time.monotonic()
        if left > 0:
            conn.settimeout(left)
            with contextlib.suppress(OSError):
                conn.sendall(text.encode("ascii"))
        _log(f"{peer} {said}")
    finally:
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
        conn.close()


def listen(bind: str, port: int) -> socket.socket:
    """The listening socket: ``bind`` (IPv4 or IPv6), or both stacks when ``bind`` is empty."""
    if bind:
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind, port))
    else:
        try:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", port))
        except OSError:  # no IPv6 on this host
            sock.close()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", port))
    sock.listen(64)
    return sock


def serve(sock: socket.socket, *, deadline: float, read_for: float, max_line: int, max_connections: int,
          stop: threading.Event | None = None) -> None:
    """Accept until ``stop``: each connection in its own thread, at most ``max_connections`` at once."""
    slots = threading.BoundedSemaphore(max_connections)
    hostname = _hostname()
    stop = stop or threading.Event()

    def run(conn: socket.socket, peer: str) -> None:
        try:
            handle(conn, peer, hostname=hostname, deadline=deadline, read_for=read_for, max_line=max_line)
        finally:
            slots.release()

    while not stop.is_set():
        try:
            conn, address = sock.accept()
        except OSError:  # out of descriptors, or a connection reset before accept: breathe, go on
            if stop.is_set():
                return
            time.sleep(0.05)
            continue
        peer = _peer(str(address[0]))
        if not slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                conn.setblocking(False)
                conn.send(b"REFUS trop de connexions\n")
            conn.close()
            _log(f"{peer} refus: trop de connexions")
            continue
        try:
            threading.Thread(target=run, args=(conn, peer), daemon=True).start()
        except RuntimeError:  # no thread to be had: refuse this one
            slots.release()
            conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grader-temoin",
                                     description="Témoin de l'examen : renvoie l'adresse source vue par connexion.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port TCP d'écoute (défaut 7777)")
    parser.add_argument("--bind", default="", help="adresse d'écoute (défaut : toutes, IPv4 et IPv6)")
    parser.add_argument("--deadline", type=float, default=5.0, help="durée maximale d'une connexion (s)")
    parser.add_argument("--read-timeout", type=float, default=3.0, help="attente maximale du jeton (s)")
    parser.add_argument("--max-line", type=int, default=256, help="longueur maximale de la ligne lue (octets)")
    parser.add_argument("--max-connections", type=int, default=64, help="connexions simultanées au plus")
    parser.add_argument("--version", action="version", version=f"grader-temoin {VERSION}")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535 or args.max_line < 1 or args.max_connections < 1 or args.deadline <= 0:
        parser.error("valeurs hors bornes")
    threading.stack_size(256 * 1024)  # many idle connections cost little memory
    sock = listen(args.bind, args.port)
    host, port = sock.getsockname()[:2]
    _log(f"grader-temoin {VERSION} : écoute sur {host}:{port}")
    try:
        serve(sock, deadline=args.deadline, read_for=min(args.read_timeout, args.deadline),
              max_line=args.max_line, max_connections=args.max_connections)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
