"""The inventory: one Ansible inventory, read through ansible-runner, as a typed model."""
