"""SSH collector: device CLIs over netmiko (optics, routing neighbours, error counters).

It also runs the configuration backup on the same sessions (agent.backup).
"""

from collectors.ssh.collector import SshCollector
from collectors.ssh.config import KeyLogin, PasswordLogin, SshConfig

__all__ = ["KeyLogin", "PasswordLogin", "SshCollector", "SshConfig"]
