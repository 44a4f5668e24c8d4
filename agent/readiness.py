"""``netmon vc readiness``: can every bridge point join a conference right now?

The check an operator runs an hour before a province-wide videoconference: every host with
the ``vc`` check is probed at once (a burst of echo requests and its signalling port), and
the table shows, level by level, what fails. It writes nothing to InfluxDB.

Exit status: 0 all ready, 1 some degraded (none down), 2 some down, 3 bad settings or
inventory.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from agent.availability import Assessment, State
from agent.cli import CliState, inventory_option, pass_state, setup_logging
from agent.collector import CollectorContext, Target
from agent.inventory.model import Host, Inventory
from agent.schema import base_schema
from collectors.icmp.engine import IcmpUnavailableError
from collectors.icmp.stats import PingStats
from collectors.vc.collector import Signalling, VideoconferenceCollector

LEVELS = ("province", "district", "commune", "dc")
EXIT_READY, EXIT_DEGRADED, EXIT_DOWN = 0, 1, 2


@dataclass(frozen=True)
class Readiness:
    host: Host
    path: PingStats
    signalling: Signalling | None
    assessment: Assessment

    @property
    def state(self) -> State:
        if not self.assessment.up:
            return State.DOWN
        return State.DEGRADED if self.assessment.problems else State.OK


def bridge_points(inventory: Inventory) -> list[tuple[Host, Target]]:
    """Every host with the ``vc`` check, and that check's target."""
    found = []
    for host in inventory.hosts.values():
        for target in host.targets():
            if target.check == "vc":
                found.append((host, target))
    return found


async def check_all(
    points: Sequence[tuple[Host, Target]],
    context: CollectorContext,
    *,
    count: int,
    spacing_s: float,
    concurrency: int,
) -> list[Readiness]:
    collector = VideoconferenceCollector(context)
    collector.engine.open()  # fail early, once, when ICMP is not allowed
    slots = asyncio.Semaphore(concurrency)

    async def one(host: Host, target: Target) -> Readiness:
        async with slots:
            path, signalling, assessment = await collector.check_now(target, count, spacing_s)
        return Readiness(host, path, signalling, assessment)

    try:
        return list(await asyncio.gather(*(one(host, target) for host, target in points)))
    finally:
        await collector.close()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_table(rows: Sequence[Readiness]) -> str:
    header = ("Point", "Site", "State", "RTT ms", "Jitter ms", "Loss %", "Signalling", "What fails")
    lines = []
    for level in LEVELS:
        members = sorted((r for r in rows if r.host.settings.netmon_level == level), key=_order)
        if not members:
            continue
        ready = sum(1 for r in members if r.state is State.OK)
        table = [header] + [
            (
                r.host.name,
                r.host.settings.netmon_site_name or r.host.settings.netmon_site,
                r.state.word,
                _ms(r.path.avg_ms),
                _ms(r.path.jitter_ms),
                f"{r.path.loss_pct:.0f}",
                r.signalling.describe() if r.signalling else "-",
                "; ".join(r.assessment.problems) or "",
            )
            for r in members
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
        lines.append(f"== {level}: {ready} of {len(members)} ready ==")
        for row in table:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        lines.append("")
    counts = {state: sum(1 for r in rows if r.state is state) for state in State}
    lines.append(
        f"{len(rows)} bridge points: {counts[State.OK]} ready, "
        f"{counts[State.DEGRADED]} degraded, {counts[State.DOWN]} down"
    )
    return "\n".join(lines)


def _order(row: Readiness) -> tuple[int, str]:
    # What fails first, so the operator reads the problems without scrolling.
    return (-int(row.state), row.host.name)


def as_json(rows: Sequence[Readiness]) -> str:
    return json.dumps(
        [
            {
                "point": r.host.name,
                "site": r.host.settings.netmon_site,
                "site_name": r.host.settings.netmon_site_name,
                "level": r.host.settings.netmon_level,
                "state": r.state.word,
                "rtt_ms": r.path.avg_ms,
                "jitter_ms": r.path.jitter_ms,
                "loss_pct": r.path.loss_pct,
                "signalling": r.signalling.describe() if r.signalling else None,
                "problems": list(r.assessment.problems),
            }
            for r in sorted(rows, key=lambda r: r.host.name)
        ],
        ensure_ascii=False,
        indent=2,
    )


def exit_code(rows: Sequence[Readiness]) -> int:
    states = {row.state for row in rows}
    if State.DOWN in states:
        return EXIT_DOWN
    return EXIT_DEGRADED if State.DEGRADED in states else EXIT_READY


@click.group()
def vc() -> None:
    """Videoconference bridge points."""


@vc.command("readiness")
@inventory_option
@click.option(
    "--count", default=10, show_default=True, type=click.IntRange(2, 200), help="Echo requests."
)
@click.option(
    "--spacing",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0.01, 10.0),
    help="Seconds between echo requests to one point.",
)
@click.option(
    "--concurrency",
    default=64,
    show_default=True,
    type=click.IntRange(1, 1024),
    help="Bridge points probed at once.",
)
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table")
@pass_state
def readiness(
    state: CliState,
    inventory_path: Path | None,
    count: int,
    spacing: float,
    concurrency: int,
    output_format: str,
) -> None:
    """Probe every bridge point now and show, by level, what would stop it joining.

    Exit status: 0 all ready, 1 some degraded, 2 some down, 3 bad settings or inventory.
    """
    settings = state.settings
    setup_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    points = bridge_points(state.inventory(inventory_path))
    if not points:
        click.echo("netmon: no host in the inventory has the vc check", err=True)
        sys.exit(3)
    context = CollectorContext(
        schema=base_schema(), icmp_mode=settings.probes.icmp_mode, ca_file=settings.probes.ca_file
    )
    try:
        rows = asyncio.run(
            check_all(points, context, count=count, spacing_s=spacing, concurrency=concurrency)
        )
    except IcmpUnavailableError as exc:
        click.echo(f"netmon: {exc.strerror}", err=True)
        sys.exit(3)
    click.echo(render_table(rows) if output_format == "table" else as_json(rows))
    sys.exit(exit_code(rows))
