"""The SNMP trap and inform receiver: a Listener (agent.collector) beside the polled collectors.

SNMPv1 traps, SNMPv2c traps and informs, SNMPv3 traps and informs from any number of users and
devices; informs are acknowledged. Communities and users are the credential sets the
inventory's SNMP checks use; SNMPv3 engine IDs are learned from authenticated traps
(collectors.traps.security). Each trap is one ``snmp_trap`` sample; linkDown/linkUp also update
the ``interface`` series at once; coldStart/warmStart tell the counter guard that the device
restarted (collectors.traps.samples).

Modules: `names` (OIDs), `decode` (varbinds → Notification), `samples` (schema and samples),
`security` (communities, users, engine-ID learning), `receiver` (socket, pysnmp, stats),
`inventory` (credential sets and sender addresses).
"""

from collectors.traps.inventory import trap_credentials, trap_senders
from collectors.traps.receiver import (
    InterfaceTagsLookup,
    RestartHook,
    TrapListenError,
    TrapReceiver,
    TrapStats,
)
from collectors.traps.samples import TRAP_INTERFACE_MEASUREMENT, TRAP_MEASUREMENT, TRAP_MEASUREMENTS
from collectors.traps.security import Refusal

__all__ = [
    "TRAP_INTERFACE_MEASUREMENT",
    "TRAP_MEASUREMENT",
    "TRAP_MEASUREMENTS",
    "InterfaceTagsLookup",
    "Refusal",
    "RestartHook",
    "TrapListenError",
    "TrapReceiver",
    "TrapStats",
    "trap_credentials",
    "trap_senders",
]
