"""Source Vault measured against the tools newsrooms use today, in one run.

    python -m benchmarks [--quick] [--out FILE] [--only SUITE ...] [--database-url URL]

Suites, in order: ``content`` (encrypt-and-store and decrypt-and-read through the library, beside
``cp``, ``gpg`` and ``age``), ``transfer`` (upload and download through ``vault serve`` beside a
bare ASGI endpoint on the same server stack), ``audit`` (the access log on SQLite and
PostgreSQL), ``metadata`` (listing a case of 10,000 documents), ``login`` (one login, and 50 at
once), ``export`` (seconds per page of a redacted 20-page text PDF and scan, beside pdftoppm and
tesseract), ``scale`` (64 KiB uploads from eight clients at once on one and three replicas,
SQLite and PostgreSQL with an S3 server, and a 1 GiB ``curl -F`` upload beside ``cp``), ``e2e``
(a 1 GiB download through ``vault docs get`` and upload through ``vault docs put`` in an
end-to-end session beside server-side ones and ``cp``, and ``vault login`` of both kinds).
Prints a Markdown table on stdout and writes JSON (default ``benchmarks/results.json``).

``--quick`` keeps the 1 GiB content and transfer cases and the 10,000-document case, but
repeats less and fills the access log to 10^5 entries instead of 10^6: a few minutes on two
cores. The PostgreSQL cases need ``--database-url`` (or ``VAULT_BENCH_DATABASE_URL``). Not part of
the test suite: it needs ``pip install -e '.[bench]'`` (the ``age`` peer) and ``gpg``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import Context, Result, machine, markdown, say

SUITES = ("content", "transfer", "audit", "metadata", "login", "export", "scale", "e2e")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a run of a few minutes")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results.json", help="JSON output"
    )
    parser.add_argument("--only", nargs="+", choices=SUITES, help="run only these suites")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "VAULT_BENCH_DATABASE_URL", os.environ.get("VAULT_TEST_DATABASE_URL")
        ),
        help="PostgreSQL for the cases that compare it with SQLite "
        "(default: $VAULT_BENCH_DATABASE_URL or $VAULT_TEST_DATABASE_URL; none: SQLite only)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the large files go (default: a new directory beside the output file)",
    )
    args = parser.parse_args(argv)

    parent = args.workdir or args.out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="vault-bench-", dir=parent))
    context = Context(
        quick=args.quick,
        workdir=workdir,
        database_url=args.database_url,
        repeat=3 if args.quick else 5,
    )
    started = datetime.now(UTC)
    results: list[Result] = []
    failed: list[str] = []
    try:
        for name in args.only or SUITES:
            say(f"== {name}")
            began = time.perf_counter()
            suite = importlib.import_module(f"benchmarks.{name}")
            # A directory of its own per suite: they name their vaults and files alike.
            own = workdir / name
            own.mkdir()
            try:
                measured = suite.run(replace(context, workdir=own))
                for result in measured:
                    result.suite = name
                results += measured
            except Exception:
                # The other suites' numbers are still worth having; the run exits 1.
                say(traceback.format_exc())
                failed.append(name)
            say(f"== {name}: {time.perf_counter() - began:.0f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = {
        "machine": machine(),
        "quick": args.quick,
        "started": started.isoformat(timespec="seconds"),
        "results": [r.to_json() for r in results],
        "failed_suites": failed,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(results))
    say(f"wrote {args.out}")
    if failed:
        say(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
