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
from typing import TYPE_CHECKING, Protocol

from grader.errors import CredentialError
from grader.model import Msg

if TYPE_CHECKING:
    import paramiko


class CredentialRef(Protocol):
    """Where a secret lives (``grader.rubric.Credential``): exactly one source, never the secret itself."""

    @property
    def username(self) -> str: ...
    @property
    def key_file(self) -> str | None: ...
    @property
    def password_env(self) -> str | None: ...
    @property
    def password_file(self) -> str | None: ...
    @property
    def agent(self) -> bool: ...


@dataclass(frozen=True)
class SshSecret:
    username: str
    pkey: paramiko.PKey | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    agent: bool = False

    def describe(self) -> Msg:
        """What the evidence may say about how we logged in (no secret material)."""
        if self.pkey:
            return Msg("{username} (clé)", username=self.username)
        if self.password is not None:
            return Msg("{username} (mot de passe)", username=self.username)
        return Msg("{username} (agent SSH)", username=self.username)


def _private_file(path: Path, what: Msg) -> Path:
    path = path.expanduser()
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise CredentialError(Msg("{what} introuvable : {path}", what=what, path=str(path))) from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialError(Msg("{what} {path} est lisible par d'autres comptes (mode {mode:04o}) : "
                                  "faites « chmod 600 {path} »", what=what, path=str(path),
                                  mode=stat.S_IMODE(st.st_mode)))
    return path


def resolve_ssh(ref: CredentialRef) -> SshSecret:
    """Turn a rubric credential reference (``grader.rubric.Credential``) into a usable secret."""
    import paramiko  # here, not at import: the other channels resolve passwords without it

    username = ref.username
    if ref.key_file:
        path = _private_file(Path(str(ref.key_file)), Msg("la clé privée"))
        try:
            pkey = paramiko.PKey.from_path(str(path))
        except (paramiko.SSHException, OSError, ValueError) as exc:
            raise CredentialError(Msg("la clé privée {path} est illisible ({error})", path=str(path),
                                      error=str(exc))) from exc
        return SshSecret(username, pkey=pkey)
    if ref.password_env or ref.password_file:
        return SshSecret(username, password=resolve_password(ref).password)
    if ref.agent:
        return SshSecret(username, agent=True)
    raise CredentialError(Msg("aucune source de secret pour le compte {username}", username=username))


@dataclass(frozen=True)
class PasswordSecret:
    """A username and password (WinRM, LDAP bind, SNMPv3, a community string as the password)."""

    username: str
    password: str = field(repr=False)

    def describe(self) -> Msg:
        return Msg("{username} (mot de passe)", username=self.username)


def resolve_password(ref: CredentialRef) -> PasswordSecret:
    """A rubric credential that must be a password (``password_env`` or ``password_file``)."""
    username = ref.username
    if ref.password_env:
        value = os.environ.get(ref.password_env)
        if value is None:
            raise CredentialError(Msg("la variable d'environnement {name} n'est pas définie", name=ref.password_env))
        return PasswordSecret(username, value)
    if ref.password_file:
        path = _private_file(Path(str(ref.password_file)), Msg("le fichier de mot de passe"))
        text = path.read_text(encoding="utf-8")
        return PasswordSecret(username, text.splitlines()[0] if text else "")
    raise CredentialError(Msg("le compte {username} doit avoir un mot de passe (password_env ou password_file)",
                              username=username))
