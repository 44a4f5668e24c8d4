import pytest

from agent.samples import Sample, Unsigned
from agent.schema import FieldType, Measurement, SchemaConflictError, base_schema


def test_declared_sample_has_no_problems() -> None:
    schema = base_schema()
    sample = Sample("snmp", {"source": "r1", "site": "DC1"}, {"sysUpTime": 5, "result_code": 0})
    assert schema.problems(sample) == []


def test_undeclared_measurement_tag_field_and_wrong_type_are_reported() -> None:
    schema = base_schema()
    assert schema.problems(Sample("nope", {}, {"x": 1})) == ["undeclared measurement 'nope'"]
    problems = schema.problems(
        Sample("snmp", {"color": "red"}, {"sysUpTime": "text", "surprise": 1})
    )
    assert "snmp: undeclared tag 'color'" in problems
    assert "snmp: undeclared field 'surprise'" in problems
    assert "snmp.sysUpTime: str value, declared int" in problems


def test_unsigned_and_int_are_different_types() -> None:
    schema = base_schema()
    schema.declare(Measurement("m", frozenset(), {"c": FieldType.UINT}))
    assert schema.problems(Sample("m", {}, {"c": Unsigned(2**64 - 1)})) == []
    assert schema.problems(Sample("m", {}, {"c": 5})) == ["m.c: int value, declared uint"]


def test_redeclaring_with_another_type_is_an_error_and_adding_fields_merges() -> None:
    schema = base_schema()
    schema.declare(Measurement("snmp", frozenset({"extra"}), {"newField": FieldType.FLOAT}))
    merged = schema.get("snmp")
    assert merged is not None and "newField" in merged.fields and "extra" in merged.tags
    with pytest.raises(SchemaConflictError, match=r"snmp\.sysUpTime"):
        schema.declare(Measurement("snmp", frozenset(), {"sysUpTime": FieldType.STR}))


def test_unsigned_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Unsigned(2**64)
    with pytest.raises(ValueError, match="out of range"):
        Unsigned(-1)
