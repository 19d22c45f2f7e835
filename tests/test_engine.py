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


def test_questions_asked_at_once_take_turns_and_all_get_their_answer(
    make_engine, embedder, monkeypatch
) -> None:
    import threading
    import time

    from qa.engine import CONCURRENT_QUESTIONS

    engine = make_engine(
        {
            "a.txt": "The lighthouse keeper lives on the rocky island.",
            "b.txt": "Bakers rise before dawn to knead the bread.",
        }
    )
    engine.build()
    questions = ["Who lives on the island?", "When do bakers get up?"] * 6
    expected = [engine.search(q, k=1)[0].document for q in questions]
    running, most = 0, 0
    lock = threading.Lock()
    encode = embedder.encode_query

    def observed(text: str):  # the real encoder, watched: how many questions are inside it
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)  # long enough for every thread to arrive while others are inside
        try:
            return encode(text)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(embedder, "encode_query", observed)
    found: dict[int, str] = {}

    def ask(i: int) -> None:
        found[i] = engine.search(questions[i], k=1)[0].document

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [found[i] for i in range(len(questions))] == expected
    assert most == min(CONCURRENT_QUESTIONS, len(questions))
