"""ICMP echo (ping): one socket for every target, SmokePing-grade statistics."""

from collectors.icmp.collector import PingCollector

__all__ = ["PingCollector"]
