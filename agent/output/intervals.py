"""A set of integers kept as sorted, disjoint half-open ranges ``[start, end)``.

The spool numbers every line it stores with a position; which positions are delivered, and
which are out with the writer, are sets of this kind. They stay small (a handful of ranges)
because deliveries are contiguous runs of positions.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

Range = tuple[int, int]


class IntervalSet:
    def __init__(self, ranges: Iterable[Range] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in ranges:
            self.add(start, end)

    def __iter__(self) -> Iterator[Range]:
        return iter(zip(self._starts, self._ends, strict=True))

    def __len__(self) -> int:
        """How many ranges (not integers)."""
        return len(self._starts)

    def __repr__(self) -> str:
        return f"IntervalSet({list(self)!r})"

    def count(self) -> int:
        """How many integers the set holds."""
        return sum(end - start for start, end in self)

    def add(self, start: int, end: int) -> None:
        """Add ``[start, end)``, merging with ranges it touches or overlaps."""
        if start >= end:
            return
        # Every range whose end reaches start and whose start is at most end merges.
        first = bisect.bisect_left(self._ends, start)
        last = bisect.bisect_right(self._starts, end)
        if first < last:
            start = min(start, self._starts[first])
            end = max(end, self._ends[last - 1])
        self._starts[first:last] = [start]
        self._ends[first:last] = [end]

    def remove(self, start: int, end: int) -> None:
        """Remove ``[start, end)`` from the set."""
        if start >= end:
            return
        first = bisect.bisect_right(self._ends, start)
        last = bisect.bisect_left(self._starts, end)
        if first >= last:
            return
        keep_starts: list[int] = []
        keep_ends: list[int] = []
        if self._starts[first] < start:
            keep_starts.append(self._starts[first])
            keep_ends.append(start)
        if self._ends[last - 1] > end:
            keep_starts.append(end)
            keep_ends.append(self._ends[last - 1])
        self._starts[first:last] = keep_starts
        self._ends[first:last] = keep_ends

    def overlap(self, start: int, end: int) -> int:
        """How many integers of ``[start, end)`` the set holds."""
        total = 0
        index = bisect.bisect_right(self._ends, start)
        while index < len(self._starts) and self._starts[index] < end:
            total += min(end, self._ends[index]) - max(start, self._starts[index])
            index += 1
        return total

    def gaps(self, start: int, end: int) -> list[Range]:
        """The ranges of ``[start, end)`` that the set does not hold, in order."""
        found: list[Range] = []
        cursor = start
        index = bisect.bisect_right(self._ends, start)
        while index < len(self._starts) and self._starts[index] < end:
            if self._starts[index] > cursor:
                found.append((cursor, self._starts[index]))
            cursor = max(cursor, self._ends[index])
            index += 1
        if cursor < end:
            found.append((cursor, end))
        return found

    def discard_below(self, position: int) -> None:
        """Forget everything below `position` (it no longer exists)."""
        self.remove(min(self._starts, default=position), position)
