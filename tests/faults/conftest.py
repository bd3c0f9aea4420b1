"""Fixtures of the fault-injection tests."""

import pytest

from faultkit import Recorded


@pytest.fixture
def recorded(tmp_path, monkeypatch) -> Recorded:
    folder = tmp_path / "pids"
    folder.mkdir()
    folder.chmod(0o777)
    monkeypatch.setenv("GEMMBENCH_TEST_PIDS", str(folder))
    return Recorded(folder)
