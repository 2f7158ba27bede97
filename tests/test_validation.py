"""``injectq.utils.validation.check_timeout``: the one check every duration argument uses."""

from __future__ import annotations

import math

import pytest

from injectq.utils.validation import check_timeout


@pytest.mark.parametrize("value", [None, 0, 0.0, 1, 2.5, 10**9])
def test_usable_durations_are_returned_unchanged(value: float | None) -> None:
    assert check_timeout("acquire_timeout", value) == value


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (math.nan, "NaN"),
        (math.inf, "use None for no limit"),
        (-math.inf, "use None for no limit"),
        (-1, "got -1"),
        (-0.001, "got -0.001"),
        (True, "a bool"),
        (False, "a bool"),
    ],
)
def test_unusable_durations_raise_value_error_naming_the_parameter(value: float, says: str) -> None:
    with pytest.raises(ValueError, match="dispose_timeout must be") as info:
        check_timeout("dispose_timeout", value)
    assert says in str(info.value)


@pytest.mark.parametrize("value", ["5", b"5", [5]])
def test_non_numbers_raise_type_error(value: object) -> None:
    with pytest.raises(TypeError, match=r"init_timeout must be a number of seconds >= 0 or None"):
        check_timeout("init_timeout", value)  # type: ignore[arg-type]
