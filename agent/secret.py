"""A value that must never be shown: credentials, tokens, passwords.

`Secret` prints as ``<secret>`` in ``str``, ``repr``, f-strings, logging, pydantic dumps and
JSON; the only way to the plain value is the explicit :meth:`Secret.reveal` call, made at the
single place that hands it to a protocol library.
"""

from __future__ import annotations

from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

MASK = "<secret>"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        # len() would leak the length of the secret; refuse it.
        raise TypeError("the length of a Secret is not disclosed")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickling would carry the value into artifacts (spools, caches).
        raise TypeError("a Secret cannot be pickled")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(min_length=1),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda value: MASK, when_used="always"
            ),
        )
