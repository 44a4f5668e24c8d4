"""Golden SNMP cases: one folder per device recording, found automatically.

``tests/golden/snmp/<recording>/expected.json`` holds what the agent makes of that recording
(served by snmpsim) on first contact: the profile sysObjectID chose, and every sample, in a
normalised form (no timestamps, no response times; each field as ``[type, value]``).

Regenerate after an intended change with ``NETMON_UPDATE_GOLDEN=1 pytest tests/golden`` and
review the diff like code. Under CI the variable is refused, so CI can only compare.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from agent.samples import FieldValue, Sample, Unsigned
from agent.schema import FieldType

CASES_DIR = Path(__file__).with_name("snmp")
UPDATE_VARIABLE = "NETMON_UPDATE_GOLDEN"
#: Fields that differ between two runs of the same case (wall time, request count).
VOLATILE = frozenset({"response_time", "requests"})


def case_names() -> list[str]:
    return sorted(p.name for p in CASES_DIR.iterdir() if (p / "expected.json").is_file())


def updating() -> bool:
    return os.environ.get(UPDATE_VARIABLE, "") == "1"


def field_type(value: FieldValue) -> str:
    if isinstance(value, bool):
        return FieldType.BOOL.value
    if isinstance(value, Unsigned):
        return FieldType.UINT.value
    if isinstance(value, int):
        return FieldType.INT.value
    if isinstance(value, float):
        return FieldType.FLOAT.value
    return FieldType.STR.value


def normalise(samples: list[Sample]) -> list[dict[str, Any]]:
    rows = [
        {
            "measurement": s.measurement,
            "tags": dict(sorted(s.tags.items())),
            "fields": {
                name: [field_type(value), int(value) if isinstance(value, Unsigned) else value]
                for name, value in sorted(s.fields.items())
                if name not in VOLATILE
            },
        }
        for s in samples
    ]
    return sorted(rows, key=lambda r: (r["measurement"], sorted(r["tags"].items())))


def expected_path(case: str) -> Path:
    return CASES_DIR / case / "expected.json"


def load_expected(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(expected_path(case).read_text(encoding="utf-8"))
    return data


def write_expected(case: str, data: dict[str, Any]) -> None:
    path = expected_path(case)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
