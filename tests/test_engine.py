"""Engine start-up: the index and the model are ready before the first question."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from qa.engine import Engine
from qa.errors import IndexCorruptError, IndexMissingError


def test_warm_up_loads_the_index_and_the_model(make_engine, embedder) -> None:
    built = make_engine({"a.txt": "The lighthouse keeper lives on the rocky island."})
    built.build()
    engine = Engine(built.settings)  # a fresh process: nothing loaded yet
    engine.warm_up()
    assert engine._index is not None and engine._embedder is not None
    assert engine.search("Who lives on the island?", k=1)[0].document == "a.txt"


def test_warm_up_reports_a_missing_index_first(make_engine) -> None:
    engine = make_engine({"a.txt": "Text."})
    with pytest.raises(IndexMissingError, match="run `qa index`"):
        engine.warm_up()


def test_warm_up_refuses_an_index_of_another_dimension(make_engine, embedder) -> None:
    built = make_engine({"a.txt": "Text."})
    built.build()
    other = SimpleNamespace(name=embedder.name, dimension=768)  # as a 768-d model would be
    engine = Engine(built.settings, other)
    with pytest.raises(IndexCorruptError, match="384-dimensional.*768.*--full"):
        engine.warm_up()
