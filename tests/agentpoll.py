"""Running a built agent for exactly one poll of every target, then flushing its writer."""

from __future__ import annotations

import asyncio

from agent.runner import Agent


async def poll_every_target_once(agent: Agent) -> None:
    writer = asyncio.create_task(agent.writer.run())
    await asyncio.gather(*(agent.scheduler.run_once(t) for t in agent.scheduler.targets))
    for collector in agent.collectors.values():
        await collector.close()
    await agent.writer.stop(timeout_s=30)
    await writer
    agent.release()
