"""The `qa` command: a thin adapter that turns flags into Settings and calls the Engine."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from qa.answer import NO_ANSWER, Answer, Passage
from qa.errors import QAError
from qa.settings import Settings


def _count(text: str, most: int = 50) -> int:
    """A -k value: how many passages or results, 1..50 (as the API allows)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= value <= most:
        raise argparse.ArgumentTypeError(f"must be between 1 and {most:,}, got {value}")
    return value


# What a terminal would act on rather than show: control characters (an escape sequence can
# recolour, move the cursor or retitle the window; a carriage return overwrites a line) and bidi
# overrides. They are printed escaped (\x1b); newlines and tabs of a quote are kept.
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal(text: str, one_line: bool = False) -> str:
    """`text` safe to print on a terminal (and on one line: a warning cannot forge another)."""
    text = _TERMINAL_CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
    return text.replace("\n", "\\n").replace("\t", "\\t") if one_line else text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qa", description="Ask a folder of documents; answers are quoted passages only."
    )
    parser.add_argument("--version", action="version", version=f"qa {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, docs: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--index", type=Path, help="index folder (default: index/ or QA_INDEX)")
        p.add_argument(
            "--store",
            help="milvus:PATH.db or milvus://HOST:PORT to keep the index in Milvus "
            "(default: QA_STORE, else files in --index)",
        )
        if docs:
            p.add_argument(
                "--docs",
                type=Path,
                help="documents folder (default: QA_DOCS, else the index's own, else seeds/)",
            )
        return p

    p = command("index", "build or update the index from the documents folder", docs=True)
    p.add_argument("--full", action="store_true", help="re-embed everything")
    p.add_argument(
        "--repoint",
        action="store_true",
        help="index the --docs folder given even though the index was built from another one",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="embed on a Ray cluster: a local one, or ADDRESS (auto, ray://head:10001); "
        "needs pip install -e '.[cluster]'",
    )

    command("chat", "terminal chat: one question per line on stdin", docs=True)

    def json_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--document", help="only this document id")
        p.add_argument("--json", action="store_true", help="print JSON (the API's fields)")
        p.add_argument(
            "--base-url",
            help="where `qa serve` runs, for the `url` of each passage "
            "(default http://HOST:PORT of the settings)",
        )

    p = command("ask", "answer one question with quoted passages")
    p.add_argument("question")
    p.add_argument(
        "--explain", action="store_true", help="say why it was answered or not (words, signals)"
    )
    p.add_argument("-k", type=_count, default=None, help="passages to show, 1..50 (default 3)")
    json_flags(p)

    p = command("search", "ranked paragraphs for a query")
    p.add_argument("query")
    p.add_argument("-k", type=_count, default=5, help="results, 1..50 (default 5)")
    json_flags(p)

    p = command("report", "what the documents don't answer: recorded questions, grouped")
    p.add_argument("-k", type=_count, default=3, help="closest passages per question (default 3)")
    p.add_argument(
        "--groups",
        type=lambda t: _count(t, 100_000),
        default=100,
        help="most frequent groups shown (default 100)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--base-url", help="where `qa serve` runs, for the passages' `url`")

    p = command("eval", "measure retrieval quality on a SQuAD-format file")
    p.add_argument("file", type=Path)
    p.add_argument("--limit", type=int, help="ask a fixed-seed sample of N questions")
    p.add_argument(
        "--abstain",
        nargs="?",
        const="far",
        choices=("far", "near"),
        help="measure abstention: far (index every second article) or near (also leave every "
        "4th paragraph out and ask its questions)",
    )
    p.add_argument("--half", choices=("even", "odd"), help="only even- or odd-numbered articles")
    p.add_argument("--articles", type=int, help="with --abstain: index only the first N articles")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = command("mcp", "serve the documents to AI assistants over MCP (stdio)")
    p.add_argument("--base-url", help="where `qa serve` runs, for the passages' `url`")

    p = command("serve", "serve the web chat and JSON API", docs=True)
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument(
        "--watch", action="store_true", help="index changes in the documents folder as they happen"
    )
    return parser


def _version() -> str:
    try:
        return metadata.version("qa")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, name, None) for name in ("docs", "index", "store", "host", "port")
    }
    if getattr(args, "k", None) is not None and args.command == "ask":
        overrides["passages"] = args.k
    return Settings.load(overrides)


def _base_url(args: argparse.Namespace, settings: Settings) -> str:
    """The server the `url`s point at: --base-url, else where `qa serve` would listen."""
    if args.base_url:
        return args.base_url.rstrip("/")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def format_passage(number: int, p: Passage) -> str:
    """The passage quoted, its best sentence in **bold** and the answer phrase, when there is
    one, in ***bold italics*** inside it."""
    s, e = p.highlight
    a, b = p.answer or (e, e)
    phrase = f"***{p.text[a:b]}***" if p.answer else ""
    quoted = f"{p.text[:s]}**{p.text[s:a]}{phrase}{p.text[b:e]}**{p.text[e:]}"
    source = p.citation if p.title in ("", p.document) else f"{p.citation}  [{p.document}]"
    return f"[{number}] {source}  (score {p.score:.2f})\n    > {quoted}"


def format_answer(answer: Answer) -> str:
    lines = [answer.strength] if answer.strength else []  # "strong match" / "partial match"
    if not answer.answered:
        lines.append(NO_ANSWER)
        if answer.passages:
            lines.append("Closest passages:")
    lines += [format_passage(i, p) for i, p in enumerate(answer.passages, 1)]
    if answer.explanation is not None:
        lines += ["", "Why:", *(f"  {line}" for line in answer.explanation.lines())]
    return "\n".join(lines)


def format_report(groups: list) -> str:
    """Each group of recorded questions: how often, of which kind, its wordings, the closest
    passages now."""
    if not groups:
        return "No question recorded yet: every question asked so far was answered."
    blocks = []
    for g in groups:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(g.kinds.items()))
        lines = [f"{g.count}× {g.question}  ({kinds}; last {g.last_asked})"]
        lines += [f"    also asked: {q} ({n}×)" for q, n in g.variants[1:]]
        lines += [
            "    " + format_passage(i, p).replace("\n", "\n    ")
            for i, p in enumerate(g.passages, 1)
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _engine(settings: Settings, build_if_missing: bool = False):
    from qa.engine import Engine

    engine = Engine(settings)
    if build_if_missing and engine.store.current() is None:
        print(f"no index in {settings.index} yet: building it from {engine.docs}", file=sys.stderr)
        print(engine.build(progress=True).summary(), file=sys.stderr)
    return engine


def run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.command == "index":
        from qa import workers
        from qa.engine import Engine

        def ocr_progress(done: int, total: int) -> None:  # one line per scanned file
            end = "\n" if done == total else ""
            print(f"\rOCR: page {done} of {total}", end=end, file=sys.stderr, flush=True)

        workers.on_page = ocr_progress  # told by the reading workers

        engine = Engine(settings)
        if args.ray is None:
            plan = engine.build(
                full=args.full, dry_run=args.dry_run, progress=True, repoint=args.repoint
            )
        else:
            from qa.cluster import build_on_ray

            plan, workers = build_on_ray(engine, args.ray, args.full, args.dry_run, args.repoint)
            if workers:
                print(f"embedded on {workers} Ray workers", file=sys.stderr)
        for skipped in plan.skipped:
            print(f"warning: {terminal(str(skipped), one_line=True)}", file=sys.stderr)
        if plan.note:
            print(f"note: {terminal(plan.note, one_line=True)}", file=sys.stderr)
        for note in plan.notes:
            print(f"note: {terminal(note, one_line=True)}", file=sys.stderr)
        print(("plan (dry run): " if args.dry_run else "") + plan.summary())
        if plan.merge_due:  # the new version already serves; this folds its delta into a base
            print("merging the index's delta segment into a new base…", file=sys.stderr)
            print(f"merged: index version {engine.merge()}", file=sys.stderr)
    elif args.command == "ask":
        answer = _engine(settings).ask(args.question, document=args.document, explain=args.explain)
        if args.json:
            from web.schemas import answer_dict  # the API's shapes, so the fields are the same

            print(json.dumps(answer_dict(answer, _base_url(args, settings)), ensure_ascii=False))
        else:
            print(terminal(format_answer(answer)))
    elif args.command == "search":
        passages = _engine(settings).search(args.query, k=args.k, document=args.document)
        if args.json:
            from web.schemas import passage_dict

            base = _base_url(args, settings)
            out = {"query": args.query, "results": [passage_dict(p, base) for p in passages]}
            print(json.dumps(out, ensure_ascii=False))
        else:
            print(terminal("\n".join(format_passage(i, p) for i, p in enumerate(passages, 1))))
    elif args.command == "report":
        report = _engine(settings).report(passages=args.k, count=args.groups)
        groups = report.groups
        if args.json:
            from web.schemas import passage_dict

            base = _base_url(args, settings)
            out = [
                {**g.as_dict(), "passages": [passage_dict(p, base) for p in g.passages]}
                for g in groups
            ]
            print(json.dumps({"groups": out, "total": report.total}, ensure_ascii=False))
        else:
            print(terminal(format_report(groups)))
            if report.total > len(groups):
                print(f"\n({report.total - len(groups):,} rarer groups not shown: --groups N)")
    elif args.command == "chat":
        chat(_engine(settings, build_if_missing=True))
    elif args.command == "eval":
        from qa.evaluation import evaluate

        result = evaluate(
            args.file,
            settings,
            limit=args.limit,
            abstain=args.abstain,
            progress=True,
            half=args.half,
            articles=args.articles,
        )
        print(
            json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items())
        )
    elif args.command == "mcp":
        from web.mcp import create_server

        create_server(_engine(settings), _base_url(args, settings)).run("stdio")
    elif args.command == "serve":
        from web.server import serve

        serve(_engine(settings, build_if_missing=True), watch=args.watch)
    return 0


def chat(engine) -> None:
    """Read questions line by line; earlier questions give follow-ups their context."""
    history: list[str] = []
    interactive = sys.stdin.isatty()
    if interactive:
        import readline  # noqa: F401  (importing it gives input() line editing and history)

        print("Ask a question (Ctrl-D to quit).")
    while True:
        try:
            line = input("> ") if interactive else sys.stdin.readline()
        except EOFError:
            break
        if not line:
            break
        if not line.strip():
            continue
        if not interactive:  # piped questions: show which answer belongs to which
            print(f"> {line.strip()}")
        try:
            answer = engine.ask(line, history)
        except QAError as e:
            print(f"error: {terminal(str(e), one_line=True)}")
            continue
        print(terminal(format_answer(answer)) + "\n", flush=True)
        history.append(line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except QAError as e:
        print(f"qa: error: {terminal(str(e), one_line=True)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `qa search ... | head -2`: the reader is gone, which is fine
        # Point stdout at /dev/null, or Python's flush at exit raises again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a program whose pipe was closed


if __name__ == "__main__":
    sys.exit(main())
