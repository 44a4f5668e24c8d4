import json
import logging
import pickle

import pytest
from pydantic import BaseModel

from agent.secret import MASK, Secret

PLAIN = "hunter2-very-secret"


class Holder(BaseModel):
    password: Secret


def test_secret_never_prints_its_value(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(PLAIN)
    logging.getLogger("t").warning("value %s %r %s", secret, secret, f"{secret}")
    shown = " ".join([str(secret), repr(secret), f"{secret:>30}", caplog.text])
    assert PLAIN not in shown
    assert MASK in shown
    assert secret.reveal() == PLAIN


def test_secret_is_masked_in_pydantic_dumps() -> None:
    holder = Holder.model_validate({"password": PLAIN})
    assert holder.password.reveal() == PLAIN
    assert PLAIN not in holder.model_dump_json()
    assert json.loads(holder.model_dump_json())["password"] == MASK
    assert PLAIN not in repr(holder) and PLAIN not in str(holder.model_dump())


def test_secret_refuses_to_leak_through_len_or_pickle() -> None:
    secret = Secret(PLAIN)
    with pytest.raises(TypeError):
        len(secret)
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_empty_secret_is_rejected_by_models() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Holder.model_validate({"password": ""})
