"""``netmon provision``: the project's playbooks run through ansible-runner.

agent.provision.runner runs one playbook and reads its progress and per-host summary from
ansible-runner's events and stats (never from Ansible's stdout); agent.provision.cli is the
command.
"""
