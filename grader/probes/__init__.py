"""The channels' probe languages: what a check may say to a channel, and how to read what it says back.

One module per channel (``ssh``, ``winrm``, ``ldap``, ``smb``, ``snmp``, ``cli``, ``http``, ``tls``,
``dns``, ``dhcp``, ``syslog``): its declaration (:class:`~grader.probes.channel.ChannelSpec`, with the
``Options`` a rubric writes under ``hosts[].options.<channel>``), its probe constructors and the grammar
of its output with the parsers the judges use. Nothing here opens a connection or imports a connection
library: checks import these modules only, and so do ``grader rubric validate`` and ``grader checks
list``. The connection code lives in :mod:`grader.transports`, which imports these modules too.
"""
