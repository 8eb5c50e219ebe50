"""Credential references: rubrics name *where* a secret is, never the secret itself.

A rubric's ``credentials`` entry gives a username and exactly one source:

* ``key_file``: a private key file (must not be readable by group/others);
* ``password_env``: the name of an environment variable holding the password;
* ``password_file``: a file (mode 0600 or stricter) whose first line is the password;
* ``agent: true``: keys offered by the running SSH agent.

Secrets are resolved at connection time only, held in memory, and never written to the
store, the reports or the logs (``SshSecret.__repr__`` hides them).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from grader.errors import CredentialError


@dataclass(frozen=True)
class SshSecret:
    username: str
    pkey: paramiko.PKey | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    agent: bool = False

    def describe(self) -> str:
        """What the evidence may say about how we logged in (no secret material)."""
        how = "clé" if self.pkey else "mot de passe" if self.password is not None else "agent SSH"
        return f"{self.username} ({how})"


def _private_file(path: Path, what: str) -> Path:
    path = path.expanduser()
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise CredentialError(f"{what} introuvable : {path}") from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialError(
            f"{what} {path} est lisible par d'autres comptes (mode {stat.S_IMODE(st.st_mode):04o}) : "
            f"faites « chmod 600 {path} »"
        )
    return path


def resolve_ssh(ref: object) -> SshSecret:
    """Turn a rubric credential reference (``grader.rubric.Credential``) into a usable secret."""
    username = getattr(ref, "username")
    if getattr(ref, "key_file", None):
        path = _private_file(Path(str(ref.key_file)), "la clé privée")
        try:
            pkey = paramiko.PKey.from_path(str(path))
        except (paramiko.SSHException, OSError, ValueError) as exc:
            raise CredentialError(f"la clé privée {path} est illisible ({exc})") from exc
        return SshSecret(username, pkey=pkey)
    if getattr(ref, "password_env", None) or getattr(ref, "password_file", None):
        return SshSecret(username, password=resolve_password(ref).password)
    if getattr(ref, "agent", False):
        return SshSecret(username, agent=True)
    raise CredentialError(f"aucune source de secret pour le compte {username}")


@dataclass(frozen=True)
class PasswordSecret:
    """A username and password (WinRM, LDAP bind, SNMPv3, a community string as the password)."""

    username: str
    password: str = field(repr=False)

    def describe(self) -> str:
        return f"{self.username} (mot de passe)"


def resolve_password(ref: object) -> PasswordSecret:
    """A rubric credential that must be a password (``password_env`` or ``password_file``)."""
    username = getattr(ref, "username")
    if getattr(ref, "password_env", None):
        value = os.environ.get(ref.password_env)
        if value is None:
            raise CredentialError(f"la variable d'environnement {ref.password_env} n'est pas définie")
        return PasswordSecret(username, value)
    if getattr(ref, "password_file", None):
        path = _private_file(Path(str(ref.password_file)), "le fichier de mot de passe")
        text = path.read_text(encoding="utf-8")
        return PasswordSecret(username, text.splitlines()[0] if text else "")
    raise CredentialError(f"le compte {username} doit avoir un mot de passe (password_env ou password_file)")
