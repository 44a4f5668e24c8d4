"""Grafana as code: dashboards, alert rules and provisioning files built from the inventory.

`netmon dashboards build` writes everything under ``dashboards/``; ``validate`` checks it
without a Grafana server (SDK round trip, schema registry, optionally every query against
InfluxDB); ``push`` sends folders, dashboards and alerting to a Grafana through its HTTP API.
"""
