"""``netmon provision PLAYBOOK``: run one of the project's playbooks on the agent's inventory.

Exit codes: 0 every host ok (in ``--check`` mode: the check ran; ``changed`` says what would
change) · 1 a host failed or was unreachable, or the run stopped part way · 2 wrong usage (an
unknown playbook: the available ones are listed) · 3 nothing was run: invalid settings, an
inventory or vault password file that is not there, or a playbook, inventory or vault that
ansible-playbook refused.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from agent.cli import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    CliState,
    inventory_option,
    pass_state,
)
from agent.provision.runner import (
    DEFAULT_KEEP,
    PlaybookNotFound,
    ProvisionRequest,
    RunResult,
    default_playbook_dir,
    resolve_playbook,
    run_playbook,
    summary_table,
)


def _fail(message: str, code: int) -> None:
    click.echo(f"netmon provision: {message}", err=True)
    sys.exit(code)


def exit_code(result: RunResult) -> int:
    if result.succeeded:
        return EXIT_OK
    if not result.ran and result.status != "timeout":
        return EXIT_INVALID
    return EXIT_FAILED


def _report(result: RunResult, check: bool) -> None:
    if result.hosts:
        click.echo("")
        click.echo(summary_table(result.hosts))
    if check:
        click.echo("check mode: nothing was changed; 'changed' counts what would change")
    for error in result.errors:
        click.echo(error, err=True)
    if result.failed_hosts:
        click.echo(f"failed or unreachable: {', '.join(result.failed_hosts)}", err=True)
    if not result.succeeded:
        click.echo(
            f"ansible-playbook: {result.status} (rc {result.rc}); "
            f"its output: {result.artifact_dir / 'stdout'}",
            err=True,
        )
    click.echo(f"artifacts: {result.artifact_dir}")


@click.command("provision")
@click.argument("playbook")
@inventory_option
@click.option("-l", "--limit", help="Only these hosts or groups (Ansible pattern).")
@click.option("-t", "--tags", help="Only tasks with these tags (comma-separated).")
@click.option("-C", "--check", is_flag=True, help="Change nothing; report what would change.")
@click.option(
    "-D",
    "--diff",
    is_flag=True,
    help="Record what changed files differ by, in the run's artifact stdout (not printed: "
    "a diff is a task's result).",
)
@click.option(
    "--extra-vars-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Extra variables from a YAML file (may be vault-encrypted). There is no option for "
    "variables on the command line: secrets must not be in the process list or shell history.",
)
@click.option(
    "--playbook-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    envvar="NETMON_PLAYBOOK_DIR",
    help="Where the playbooks are; default: the project's playbooks/. Env: NETMON_PLAYBOOK_DIR.",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=DEFAULT_KEEP,
    show_default=True,
    help="Runs whose artifacts are kept under <state_dir>/provision/.",
)
@pass_state
def provision(
    state: CliState,
    playbook: str,
    inventory_path: Path | None,
    limit: str | None,
    tags: str | None,
    check: bool,
    diff: bool,
    extra_vars_file: Path | None,
    playbook_dir: Path | None,
    keep: int,
) -> None:
    """Run PLAYBOOK (a name from playbooks/, with or without .yml) on the inventory.

    Progress shows plays, tasks and each host's outcome; a summary per host follows. The
    vault password comes from the settings' [inventory] vault_password_file.
    """
    settings = state.settings
    directory = playbook_dir or default_playbook_dir()
    try:
        path = resolve_playbook(directory, playbook)
    except PlaybookNotFound as exc:
        _fail(str(exc), EXIT_USAGE)
        raise AssertionError("unreachable") from exc
    inventory = inventory_path or settings.inventory.path
    if not inventory.exists():
        _fail(f"inventory {inventory} not found", EXIT_INVALID)
    vault = settings.inventory.vault_password_file
    if vault is not None and not vault.is_file():
        _fail(f"vault password file {vault} not found", EXIT_INVALID)
    request = ProvisionRequest(
        playbook=path,
        inventory=inventory,
        artifacts_root=settings.state_dir / "provision",
        limit=limit,
        check=check,
        diff=diff,
        tags=tags,
        extra_vars_file=extra_vars_file,
        vault_password_file=vault,
        keep=keep,
    )
    result = run_playbook(request, click.echo)
    _report(result, check)
    sys.exit(exit_code(result))
