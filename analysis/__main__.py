"""`python -m analysis PREFIX [--target REGION] [--thresholds FILE] [--out DIR]
[--name-pattern REGEX]`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import NoReturn

from analysis.errors import BadInputError
from analysis.names import DEFAULT_NAME_PATTERN
from analysis.runner import run

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {message}: see --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m analysis",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Judge a storm's run folder and write verdict.json, verdict.md,\n"
        "junit.xml and blast_radius.png. Exit 0 PASS, 1 FAIL, 2 bad input, 3 INCONCLUSIVE.",
        epilog=f"default --name-pattern (reads /discover [DE] fault, DE recovery, /discover"
        f" [DE]):\n  {DEFAULT_NAME_PATTERN}",
    )
    parser.add_argument("prefix", metavar="PREFIX", help="the value given to locust --csv")
    parser.add_argument(
        "--target", metavar="REGION", help="region under fault (default: run.json's)"
    )
    parser.add_argument(
        "--thresholds",
        metavar="FILE",
        help="JSON or TOML (*.toml) file overriding thresholds per role and per region",
    )
    parser.add_argument("--out", metavar="DIR", help="folder for the reports (default: PREFIX's)")
    parser.add_argument(
        "--name-pattern",
        metavar="REGEX",
        help="regex finding the region in request names, as a named group (?P<region>..), "
        "and optionally (?P<phase>baseline|fault|recovery); default below",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(
            args.prefix, args.target, args.thresholds, args.out, name_pattern=args.name_pattern
        )
    except BadInputError as exc:
        print(f"analysis: {exc}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
