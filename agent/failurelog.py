"""Logging what fails, once: a dead device polled every minute must not flood the log.

Every collector has the same two needs:

- a target's *change of state*: the first failure is a WARNING, repeats go to DEBUG, and the
  first success after failures is an INFO ("answers again");
- a device's *bad answer* (a malformed SIP reply, a value that does not fit its column): a
  WARNING the first time per host and kind, DEBUG afterwards. The count goes to the
  collector's stats every time; only the log is quieted.
"""

from __future__ import annotations

import logging


class FailureLog:
    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._failing: set[str] = set()
        self._reported: set[tuple[str, str]] = set()

    def is_failing(self, key: str) -> bool:
        return key in self._failing

    def mark_failing(self, key: str) -> None:
        """`key` failed and the caller has logged it already (e.g. with a traceback)."""
        self._failing.add(key)

    def failed(self, key: str, message: str, *args: object) -> None:
        """`key` (a host or target key) failed: WARNING the first time, DEBUG while it lasts."""
        level = logging.DEBUG if key in self._failing else logging.WARNING
        self._failing.add(key)
        self._log.log(level, message, *args)

    def recovered(self, key: str, message: str, *args: object) -> None:
        """`key` succeeded: INFO if it was failing, nothing otherwise."""
        if key in self._failing:
            self._failing.discard(key)
            self._log.info(message, *args)

    def once(self, host: str, what: str, message: str) -> None:
        """A bad answer of kind `what` from `host`: WARNING once, DEBUG afterwards."""
        key = (host, what)
        level = logging.DEBUG if key in self._reported else logging.WARNING
        self._reported.add(key)
        self._log.log(level, "%s: %s", host, message)
