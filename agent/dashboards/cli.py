"""`netmon dashboards build | validate | push`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from agent.cli import EXIT_FAILED, EXIT_INVALID, EXIT_USAGE, CliState, inventory_option, pass_state
from agent.dashboards.board import BuildContext
from agent.dashboards.build import MANIFEST, Built, build, full_schema, write
from agent.settings import Settings


def _fail(message: str, code: int) -> None:
    click.echo(f"netmon: {message}", err=True)
    sys.exit(code)


def _built(state: CliState, inventory_path: Path | None, basemap_url: str | None) -> Built:
    settings = state.settings
    inventory = state.inventory(inventory_path)
    options = settings.dashboards
    ctx = BuildContext(
        schema=full_schema(),
        basemap_url=options.basemap_url if basemap_url is None else basemap_url,
        basemap_attribution=options.basemap_attribution,
    )
    return build(
        inventory,
        ctx,
        datasource_uid=options.datasource_uid,
        settings=settings,
        runbook_url=options.runbook_url,
    )


def _directory(settings: Settings, given: Path | None) -> Path:
    return given if given is not None else settings.dashboards.output_dir


@click.group("dashboards")
def dashboards() -> None:
    """Grafana as code: dashboards, alert rules and provisioning files from the inventory.

    No Grafana server is needed to build or validate; `push` sends the result to one.
    """


output_option = click.option(
    "-o",
    "--output",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of the built files; default: settings [dashboards] output_dir (dashboards).",
)


@dashboards.command("build")
@inventory_option
@output_option
@click.option(
    "--basemap-url",
    help="XYZ tile URL of an offline basemap ({z}/{x}/{y}); default: settings, else OSM.",
)
@pass_state
def build_command(
    state: CliState, inventory_path: Path | None, directory: Path | None, basemap_url: str | None
) -> None:
    """Write every dashboard, the alert rules and the provisioning files."""
    built = _built(state, inventory_path, basemap_url)
    out = _directory(state.settings, directory)
    changed = write(built, out)
    for path in changed:
        click.echo(f"wrote {path}")
    click.echo(
        f"{len(built.boards)} dashboards, {len(built.files)} files in {out} "
        f"({len(changed)} changed)"
    )


@dashboards.command("validate")
@inventory_option
@output_option
@click.option(
    "--influxdb",
    "against_influxdb",
    is_flag=True,
    help="Also run every panel query and alert rule against the settings' InfluxDB.",
)
@click.option(
    "--range",
    "range_s",
    type=click.IntRange(60, 90 * 86400),
    help="With --influxdb: seconds of data each panel reads (default: the panel's own range).",
)
@pass_state
def validate_command(
    state: CliState,
    inventory_path: Path | None,
    directory: Path | None,
    against_influxdb: bool,
    range_s: int | None,
) -> None:
    """Check the built files without Grafana: current, schema-valid, declared names only.

    With --influxdb every panel must return series and every alert rule's query must run;
    the rules that fire now are listed.
    """
    from agent.dashboards.validate import check_directory

    built = _built(state, inventory_path, None)
    out = _directory(state.settings, directory)
    problems = check_directory(out, built, full_schema())
    for problem in problems:
        click.echo(f"problem: {problem}")
    if against_influxdb:
        problems += _against_influxdb(state.settings, built, range_s)
    if problems:
        _fail(f"{len(problems)} problem(s) in {out}", EXIT_FAILED)
    click.echo(f"{out}: {len(built.boards)} dashboards valid")


def _against_influxdb(settings: Settings, built: Built, range_s: int | None) -> list[str]:
    import yaml

    from agent.dashboards.evaluate import evaluate_rule
    from agent.dashboards.validate import run_dashboard
    from agent.sla.influx import InfluxClient, InfluxQueryError

    problems: list[str] = []
    manifest = json.loads(built.files[MANIFEST])
    rules = yaml.safe_load(built.files[manifest["alerting"]["rules"]])
    try:
        with InfluxClient(settings.influxdb) as client:
            for entry in manifest["dashboards"]:
                data = json.loads(built.files[entry["file"]])
                for outcome in run_dashboard(client, data, range_s=range_s):
                    if not outcome.ok:
                        what = outcome.error or "returned no series"
                        problems.append(
                            f"{entry['uid']}: panel {outcome.query.panel!r} "
                            f"{outcome.query.ref_id}: {what}"
                        )
                        click.echo(f"problem: {problems[-1]}\n  query: {outcome.statement}")
            for group in rules["groups"]:
                for rule in group["rules"]:
                    result = evaluate_rule(client, rule)
                    state = "FIRING" if result.fires else "ok"
                    click.echo(
                        f"rule {rule['uid']}: {state} "
                        f"({len(result.firing)} of {len(result.instances)} series)"
                    )
    except InfluxQueryError as exc:
        _fail(str(exc), EXIT_FAILED)
    return problems


@dashboards.command("push")
@output_option
@click.option("--url", help="Grafana's URL; default: settings [dashboards] grafana_url.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File with the service-account token; or env NETMON_GRAFANA_TOKEN.",
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA certificate (PEM) to verify Grafana's TLS certificate with.",
)
@click.option("--dry-run", is_flag=True, help="Compare with Grafana and report; change nothing.")
@pass_state
def push_command(
    state: CliState,
    directory: Path | None,
    url: str | None,
    token_file: Path | None,
    ca_file: Path | None,
    dry_run: bool,
) -> None:
    """Send folders, dashboards, alert rules and mute timings to Grafana (idempotent).

    Contact points and notification policies are not pushed: their files name secrets with
    Grafana's $__file{} references, which only file provisioning resolves.
    """
    from agent.dashboards.push import PushError, grafana_token, push

    options = state.settings.dashboards
    url = url or options.grafana_url
    if not url:
        _fail("no Grafana URL: give --url or settings [dashboards] grafana_url", EXIT_USAGE)
    # One source, the most explicit first: --token-file, then the environment, then settings.
    environ = {} if token_file else os.environ
    if not token_file and "NETMON_GRAFANA_TOKEN" not in environ:
        token_file = options.grafana_token_file
    try:
        token = grafana_token(environ, token_file)
    except PushError as exc:
        _fail(str(exc), EXIT_INVALID)
        raise AssertionError("unreachable") from exc
    try:
        report = push(
            _directory(state.settings, directory),
            url=url,
            token=token,
            ca_file=ca_file or options.grafana_ca_file,
            dry_run=dry_run,
        )
    except PushError as exc:
        _fail(str(exc), EXIT_FAILED)
        raise AssertionError("unreachable") from exc
    click.echo(report.summary())
    if report.failed:
        sys.exit(EXIT_FAILED)
