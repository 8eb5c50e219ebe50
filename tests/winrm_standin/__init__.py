"""A WinRM server for tests: the real pywinrm client, a real socket, recorded PowerShell outputs.

No Windows runs here, so ``Standin`` plays one: a WS-Management shell server (Basic and NTLM
with message encryption, optional TLS) whose ``powershell.exe`` answers grader's batch from
recordings (``recordings/*.rec``, each stating where its shape comes from). See
:mod:`tests.winrm_standin.server` and :mod:`tests.winrm_standin.powershell`.
"""

from tests.winrm_standin.powershell import WindowsHost
from tests.winrm_standin.recordings import Recording, load, result
from tests.winrm_standin.server import Standin

__all__ = ["Recording", "Standin", "WindowsHost", "load", "result"]
