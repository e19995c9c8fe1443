"""Fixtures of the reliability group, and the summary table printed at the end of the run."""

from __future__ import annotations

import pytest

from tests.reliability import summary
from tests.reliability.helpers import served_copy


def pytest_configure(config) -> None:
    # Also registered in pyproject.toml; here too so that this folder runs on its own.
    config.addinivalue_line("markers", "reliability_full: the long reliability runs (`make reliability`)")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not summary.ROWS:
        return
    terminalreporter.write_sep("=", "reliability summary")
    terminalreporter.write_line(summary.table())
    terminalreporter.write_line(f"(also written to {summary.write_json()})")


@pytest.fixture(scope="session")
def rel_server(seed_index_dir, tmp_path_factory):
    """The server shared by the fuzzing, load and security tests."""
    yield from served_copy(seed_index_dir, tmp_path_factory.mktemp("reliability"))
