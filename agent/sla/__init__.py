"""Availability and SLA reports (issue 7): the engine, its calendar and the renderers.

Read agent.sla.combine for the rules, agent.sla.engine for what applies to whom, and
agent.sla.cli for ``netmon sla``.
"""
