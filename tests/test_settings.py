"""Settings: QA_* variables and flags, unknown names are errors, every setting documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import SettingsError
from qa.settings import Settings
from tests.conftest import ROOT


def test_defaults() -> None:
    s = Settings.load(environ={})
    assert (s.docs, s.index, s.host, s.port) == (Path("seeds"), Path("index"), "127.0.0.1", 8000)


def test_environment_then_flags() -> None:
    env = {"QA_INDEX": "/tmp/i", "QA_MIN_CONFIDENCE": "0.25", "QA_PORT": "9000", "HOME": "/x"}
    s = Settings.load({"port": 9100, "docs": None}, environ=env)
    assert (s.index, s.min_confidence, s.port, s.docs) == (
        Path("/tmp/i"),
        0.25,
        9100,
        Path("seeds"),
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"QA_DOC": "x"}, "unknown setting QA_DOC"),
        ({"QA_PORT": "eighty"}, "QA_PORT must be int"),
        ({"QA_MIN_CONFIDENCE": "-1"}, "must not be negative"),
        ({"QA_FEEDBACK": "no"}, "QA_FEEDBACK must be one of on, off, got 'no'"),
    ],
)
def test_bad_settings_are_errors(env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.load(environ=env)


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    missing = [f"QA_{n.upper()}" for n in Settings.names() if f"QA_{n.upper()}" not in readme]
    assert not missing, f"undocumented settings: {missing}"
