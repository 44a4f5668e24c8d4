"""SIP collector: OPTIONS over UDP or TCP, asyncio, to videoconference MCUs and codecs."""

from collectors.sip.collector import SipCollector, SipConfig
from collectors.sip.probe import SipOutcome, options

__all__ = ["SipCollector", "SipConfig", "SipOutcome", "options"]
