"""The suite lives outside test modules: let pytest rewrite its asserts (readable failures)."""

import pytest

pytest.register_assert_rewrite("tests.contract.suite", "tests.contract.sink")
