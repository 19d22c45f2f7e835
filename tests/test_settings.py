"""Settings: QA_* variables and flags, unknown names are errors, every setting documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import SettingsError
from qa.settings import Settings
from tests.conftest import ROOT


def test_defaults() -> None:
    s = Settings.load(environ={})
    # docs: None, the index's own folder (seeds/ for a new index, see qa.indexer)
    assert (s.docs, s.index, s.host, s.port) == (None, Path("index"), "127.0.0.1", 8000)


def test_environment_then_flags() -> None:
    env = {"QA_INDEX": "/tmp/i", "QA_MIN_CONFIDENCE": "0.25", "QA_PORT": "9000", "HOME": "/x"}
    s = Settings.load({"port": 9100, "docs": None}, environ=env)
    assert (s.index, s.min_confidence, s.port, s.docs) == (
        Path("/tmp/i"),
        0.25,
        9100,
        None,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"QA_DOC": "x"}, "unknown setting QA_DOC"),
        ({"QA_PORT": "eighty"}, "QA_PORT must be int"),
        ({"QA_MIN_CONFIDENCE": "-1"}, "must not be negative"),
        ({"QA_MIN_CONFIDENCE": "2"}, "QA_MIN_CONFIDENCE must be between 0.0 and 1.0, got '2'"),
        ({"QA_PORT": "99999"}, "QA_PORT must be between 1 and 65535, got '99999'"),
        ({"QA_PORT": "0"}, "QA_PORT must be between 1 and 65535"),
        ({"QA_PASSAGES": "0"}, "QA_PASSAGES must be between 1 and 50"),
        ({"QA_MAX_REQUEST_BYTES": "10"}, "QA_MAX_REQUEST_BYTES must be between 1024"),
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


def test_flags_are_checked_against_the_ranges_too() -> None:
    with pytest.raises(SettingsError, match="--port must be between 1 and 65535, got 99999"):
        Settings.load({"port": 99999}, environ={})


def test_trusted_hosts_default_to_the_bound_host_and_loopback() -> None:
    assert Settings.load(environ={}).allowed_hosts() == ["localhost", "127.0.0.1", "::1"]
    bound = Settings.load({"host": "10.0.0.5"}, environ={})
    assert bound.allowed_hosts() == ["localhost", "127.0.0.1", "::1", "10.0.0.5"]
    anywhere = Settings.load({"host": "0.0.0.0"}, environ={})
    assert anywhere.allowed_hosts() == ["localhost", "127.0.0.1", "::1"]
    listed = Settings.load(environ={"QA_TRUSTED_HOSTS": " Docs.Example , [::1] "})
    assert listed.allowed_hosts() == ["docs.example", "::1"]


def test_store_uris_are_checked():
    """QA_STORE: empty (local files), milvus:PATH.db (Milvus Lite) or milvus://HOST:PORT."""
    for good in ("", "milvus:/tmp/qa.db", "milvus:qa.db", "milvus://milvus.internal:19530"):
        assert Settings.load({"store": good}, environ={}).store == good
    for bad in ("milvus", "milvus:/tmp/qa", "milvus://host", "http://h:1", "milvus://h:1/x"):
        with pytest.raises(SettingsError, match="milvus://HOST:PORT"):
            Settings.load({"store": bad}, environ={})
    with pytest.raises(SettingsError, match="QA_STORE"):
        Settings.load(environ={"QA_STORE": "milvus://host"})
