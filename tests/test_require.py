"""tests.conftest.require: a missing part is a skip on a laptop and a failure in CI."""

from __future__ import annotations

import pytest

from tests.conftest import require, require_module


def test_missing_part_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install libpulse0"):
        require(False, "install libpulse0")
    require(True, "never shown")


def test_in_ci_a_part_ci_provides_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI must provide.*install libpulse0"):
        require(False, "install libpulse0")
    with pytest.raises(pytest.skip.Exception, match="wheel"):
        require(False, "no portable wheel", ci_provides=False)


def test_require_module_names_the_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert require_module("json", "unused").dumps(1) == "1"
    with pytest.raises(pytest.skip.Exception, match=r"No module named.*pip install nothing"):
        require_module("no_such_module_here", "pip install nothing")
