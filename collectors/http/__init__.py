"""HTTP(S) probe: HTTP/1.1 on asyncio with h11, timed phase by phase, certificate expiry."""

from collectors.http.collector import HttpCollector

__all__ = ["HttpCollector"]
