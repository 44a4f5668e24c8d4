"""TCP collector: connect to a port (Telegraf's net_response), asyncio."""

from collectors.tcp.collector import TcpCollector, TcpConfig
from collectors.tcp.probe import TcpOutcome, connect

__all__ = ["TcpCollector", "TcpConfig", "TcpOutcome", "connect"]
