"""SSH collector: device CLIs over netmiko (optics, routing neighbours, error counters).

It also runs the configuration backup on the same sessions (agent.backup). Nothing is
imported here: agent.backup imports this package's schema and platforms, and the collector
imports agent.backup (the entry point names ``collectors.ssh.collector:SshCollector``).
"""
