"""Settings of the videoconference readiness check (host variables ``netmon_vc_<field>``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: The well-known signalling ports: SIP (RFC 3261) and H.323 call signalling (H.225.0).
DEFAULT_PORTS = {"sip": 5060, "h323": 1720}


class VcConfig(BaseModel):
    """Thresholds default to what interactive video tolerates (ITU-T G.114 keeps one-way
    delay under 150 ms; codecs' jitter buffers absorb about 30 ms; video breaks up beyond
    about 1 % loss)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(default=20, ge=1, le=600)  # echo requests per interval
    packet_timeout_s: float = Field(default=2.0, gt=0.0, le=30.0)
    signalling: Literal["sip", "h323", "none"] = "sip"
    port: int | None = Field(default=None, ge=1, le=65535)  # default: 5060 SIP, 1720 H.323
    transport: Literal["udp", "tcp"] = "udp"  # SIP only; H.323 signalling is TCP
    signalling_timeout_s: float = Field(default=5.0, gt=0.0, le=30.0)
    max_rtt_ms: float = Field(default=150.0, gt=0.0)
    max_jitter_ms: float = Field(default=30.0, gt=0.0)
    max_loss_pct: float = Field(default=1.0, ge=0.0, le=100.0)

    @property
    def signalling_port(self) -> int:
        return self.port or DEFAULT_PORTS.get(self.signalling, 0)
