"""Outputs: line-protocol serialisation, the buffer, transports and the InfluxDB writer."""
