"""What the SNMP collector remembers about one device between polls."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.samples import FieldValue
from collectors.snmp.profiles import Oid, Profile
from collectors.snmp.session import Pacing

SYS_DESCR: Oid = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID: Oid = (1, 3, 6, 1, 2, 1, 1, 2, 0)


@dataclass
class Device:
    """One polled host: its matched profile, learned pacing, label cache.

    - `profile` is chosen on first contact from sysObjectID and kept; a changed sysObjectID
      (a replaced or re-imaged device) makes the next poll choose again.
    - `pacing` holds the GETBULK size the device copes with (halved on tooBig or timeout).
    - `labels` keeps each table's label columns (``refresh: slow``) between label walks.
    """

    pacing: Pacing
    profile: Profile | None = None
    sys_object_id: Oid | None = None
    sys_descr: str = ""
    sys_name: str | None = None
    labels: dict[str, dict[Oid, dict[str, FieldValue]]] = field(default_factory=dict)
    labels_at: float | None = None  # monotonic time of the last label walk
    #: Fallback columns (32-bit counters) the device has needed: walked with the others.
    fallbacks: set[Oid] = field(default_factory=set)

    def labels_due(self, now: float, refresh_s: float) -> bool:
        return self.labels_at is None or now - self.labels_at >= refresh_s

    def forget_profile(self) -> None:
        self.profile = None
        self.labels.clear()
        self.fallbacks.clear()
        self.labels_at = None
