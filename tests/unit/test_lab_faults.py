"""FaultWindow: when a simulated fault is on, and when that next changes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.lab.faults import FaultWindow

ONCE = FaultWindow(start_s=10, duration_s=5)
REPEATING = FaultWindow(start_s=10, duration_s=5, every_s=20)


@pytest.mark.parametrize(
    ("window", "elapsed_s", "active", "next_change"),
    [
        # once: on over [10, 15)
        (ONCE, 0.0, False, 10.0),
        (ONCE, 9.999, False, 10.0),
        (ONCE, 10.0, True, 15.0),
        (ONCE, 12.5, True, 15.0),
        (ONCE, 14.999, True, 15.0),
        (ONCE, 15.0, False, None),
        (ONCE, 1e6, False, None),
        # repeating: on over [10, 15), [30, 35), [50, 55), ...
        (REPEATING, 5.0, False, 10.0),
        (REPEATING, 10.0, True, 15.0),
        (REPEATING, 15.0, False, 30.0),
        (REPEATING, 29.999, False, 30.0),
        (REPEATING, 30.0, True, 35.0),
        (REPEATING, 34.0, True, 35.0),
        (REPEATING, 35.0, False, 50.0),
        (REPEATING, 10.0 + 20 * 1000, True, 15.0 + 20 * 1000),
        # from the lab's very start
        (FaultWindow(0, 1.5), 0.0, True, 1.5),
        (FaultWindow(0, 1.5, every_s=3), 3.0, True, 4.5),
        # before the lab started (a clock stepped back)
        (FaultWindow(0, 1.5), -1.0, False, 0.0),
        # never ends
        (FaultWindow(5, math.inf), 1e9, True, None),
    ],
)
def test_active_and_next_change(
    window: FaultWindow, elapsed_s: float, active: bool, next_change: float | None
) -> None:
    assert window.active(elapsed_s) is active
    assert window.next_change(elapsed_s) == next_change


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((-1, 5), "start_s must be a finite number >= 0"),
        ((math.nan, 5), "start_s must be a finite number >= 0"),
        ((0, 0), "duration_s must be > 0"),
        ((0, -2), "duration_s must be > 0"),
        ((0, math.nan), "duration_s must be > 0"),
        ((0, 5, 5), "every_s must be finite and longer than duration_s"),
        ((0, 5, 1), "every_s must be finite and longer than duration_s"),
        ((0, 5, math.inf), "every_s must be finite and longer than duration_s"),
    ],
)
def test_invalid_windows_are_refused(arguments: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultWindow(*arguments)


@st.composite
def windows(draw: st.DrawFn) -> FaultWindow:
    start = draw(st.floats(0, 1e4))
    duration = draw(st.floats(1e-3, 1e3))
    every = draw(st.none() | st.floats(duration * 1.001 + 1e-3, 1e4))
    return FaultWindow(start, duration, every)


@given(windows(), st.floats(-10, 1e5))
def test_active_flips_exactly_at_next_change(window: FaultWindow, elapsed_s: float) -> None:
    now = window.active(elapsed_s)
    change = window.next_change(elapsed_s)

    if change is None:
        assert window.every_s is None
        assert not now
        assert not window.active(elapsed_s + 1e6)
        return
    assert change > elapsed_s
    assert window.active(change) is not now
    # Nothing changes before then, up to the float just before.
    assert window.active(math.nextafter(change, -math.inf)) is now
    halfway = elapsed_s + (change - elapsed_s) / 2  # rounds to `change` if they are adjacent
    assert halfway == change or window.active(halfway) is now
