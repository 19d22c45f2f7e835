"""The `qa` command: a thin adapter that turns flags into Settings and calls the Engine."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from qa.answer import NO_ANSWER, Answer, Passage
from qa.errors import QAError
from qa.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qa", description="Ask a folder of documents; answers are quoted passages only."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, docs: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--index", type=Path, help="index folder (default: index/ or QA_INDEX)")
        if docs:
            p.add_argument(
                "--docs", type=Path, help="documents folder (default: seeds/ or QA_DOCS)"
            )
        return p

    p = command("index", "build or update the index from the documents folder", docs=True)
    p.add_argument("--full", action="store_true", help="re-embed everything")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")

    command("chat", "terminal chat: one question per line on stdin", docs=True)

    p = command("ask", "answer one question with quoted passages")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=None, help="passages to show (default 3)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("search", "ranked paragraphs for a query")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5, help="results (default 5)")
    p.add_argument("--document", help="only this document id")
    p.add_argument("--json", action="store_true", help="print JSON")

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

    p = command("serve", "serve the web chat and JSON API", docs=True)
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument(
        "--watch", action="store_true", help="index changes in the documents folder as they happen"
    )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name in ("docs", "index", "host", "port")}
    if getattr(args, "k", None) is not None and args.command == "ask":
        overrides["passages"] = args.k
    return Settings.load(overrides)


def format_passage(number: int, p: Passage) -> str:
    s, e = p.highlight
    quoted = f"{p.text[:s]}**{p.text[s:e]}**{p.text[e:]}"
    return f"[{number}] {p.document} ¶{p.paragraph}  (score {p.score:.2f})\n    > {quoted}"


def format_answer(answer: Answer) -> str:
    lines = []
    if not answer.answered:
        lines.append(NO_ANSWER)
        if answer.passages:
            lines.append("Closest passages:")
    lines += [format_passage(i, p) for i, p in enumerate(answer.passages, 1)]
    return "\n".join(lines)


def _engine(settings: Settings, build_if_missing: bool = False):
    from qa.engine import Engine

    engine = Engine(settings)
    if build_if_missing and engine.store.current() is None:
        print(
            f"no index in {settings.index} yet: building it from {settings.docs}", file=sys.stderr
        )
        print(engine.build(progress=True).summary(), file=sys.stderr)
    return engine


def run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.command == "index":
        from qa.engine import Engine

        plan = Engine(settings).build(full=args.full, dry_run=args.dry_run, progress=True)
        for skipped in plan.skipped:
            print(f"warning: {skipped}", file=sys.stderr)
        if plan.note:
            print(f"note: {plan.note}", file=sys.stderr)
        print(("plan (dry run): " if args.dry_run else "") + plan.summary())
    elif args.command == "ask":
        answer = _engine(settings).ask(args.question)
        print(
            json.dumps(answer.as_dict(), ensure_ascii=False) if args.json else format_answer(answer)
        )
    elif args.command == "search":
        passages = _engine(settings).search(args.query, k=args.k, document=args.document)
        if args.json:
            out = {"query": args.query, "results": [p.as_dict() for p in passages]}
            print(json.dumps(out, ensure_ascii=False))
        else:
            print("\n".join(format_passage(i, p) for i, p in enumerate(passages, 1)))
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
    elif args.command == "serve":
        from web.server import serve

        serve(_engine(settings, build_if_missing=True), watch=args.watch)
    return 0


def chat(engine) -> None:
    """Read questions line by line; earlier questions give follow-ups their context."""
    history: list[str] = []
    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask a question (Ctrl-D to quit).")
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        try:
            answer = engine.ask(line, history)
        except QAError as e:
            print(f"error: {e}")
            continue
        print(format_answer(answer) + "\n", flush=True)
        history.append(line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except QAError as e:
        print(f"qa: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
