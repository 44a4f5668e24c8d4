"""The samples → timeline rule checked second by second against its plain statement, on
random series: a sample's state holds from its time until the next sample, at most max_age
seconds; every other second is unknown."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.sla.combine import from_samples
from agent.sla.timeline import SlaState, Span

STATES = [SlaState.UP, SlaState.DEGRADED, SlaState.DOWN]


def by_second(samples: list[tuple[int, SlaState, str]], span: Span, age: int) -> list[str]:
    kept: dict[int, tuple[SlaState, str]] = {}
    for t, state, reason in samples:
        kept.setdefault(t, (state, reason))  # the same poll written twice: the first stands
    out = []
    for second in range(span.start, span.end):
        latest = max((t for t in kept if t <= second), default=None)
        if latest is None or second >= latest + age:
            out.append("unknown")
        else:
            state, reason = kept[latest]
            out.append(f"{state.value}:{'' if state is SlaState.UP else reason}")
    return out


def expand(timeline: list, span: Span) -> list[str]:  # type: ignore[type-arg]
    out = []
    for seg in timeline:
        label = "unknown" if seg.state is SlaState.UNKNOWN else f"{seg.state.value}:{seg.cause}"
        out += [label] * seg.seconds
    assert len(out) == span.seconds
    return out


samples_strategy = st.lists(
    st.tuples(
        st.integers(min_value=-30, max_value=230),
        st.sampled_from(STATES),
        st.sampled_from(["", "timeout", "http 503"]),
    ),
    max_size=40,
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(samples_strategy, st.integers(min_value=1, max_value=60), st.integers(0, 50),
       st.integers(1, 200))  # fmt: skip
def test_from_samples_equals_the_rule_second_by_second(
    raw: list[tuple[int, SlaState, str]], age: int, start: int, length: int
) -> None:
    samples = sorted(raw, key=lambda s: s[0])  # stable: duplicates keep their order
    span = Span(start, start + length)
    timeline = from_samples(samples, span, age)
    assert expand(timeline, span) == by_second(samples, span, age)
    for left, right in itertools.pairwise(timeline):
        assert left.end == right.start
        assert (left.state, left.cause) != (right.state, right.cause)  # coalesced
