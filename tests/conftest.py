"""Shared fixtures: the real data in ../shared/data.

Tests that need it skip with a reason where it is absent (a user's clone), but
fail when SCRIBBLESUP_REQUIRE_DATA=1 (set by .ci/run), so CI always runs them.
"""

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SCRIBBLESUP_DATA", REPO.parent / "shared" / "data"))


def _require(path: Path) -> Path:
    if path.exists():
        return path
    message = f"real data not found at {path} (set SCRIBBLESUP_DATA to the shared data folder)"
    if os.environ.get("SCRIBBLESUP_REQUIRE_DATA") == "1":
        pytest.fail(message + "; SCRIBBLESUP_REQUIRE_DATA=1 makes it mandatory")
    pytest.skip(message)


@pytest.fixture(scope="session")
def acdc_root() -> Path:
    return _require(DATA / "ACDC")


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    return _require(DATA / "CamVid")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (servers and process groups the tests start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
