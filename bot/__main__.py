"""Process entry: the ``launchbot`` command line (serve, db upgrade, checklist validate, export, audit verify, playground)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from bot import migrate
from bot.checklist.parser import load_template, validate_template_file
from bot.checklist.schedule import schedule_report
from bot.core.config import ConfigError, Settings, load_config
from bot.golive.steps import golive_section_index, steps_report
from bot.watch.lines import rules_report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launchbot", description="Launch Control: run a launch from Slack."
    )
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the bot (HTTP mode, or Socket Mode with --socket)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument(
        "--socket", action="store_true", help="use Socket Mode (needs SLACK_APP_TOKEN)"
    )
    mode.add_argument(
        "--http", action="store_true", help="use HTTP mode even if SLACK_APP_TOKEN is set"
    )
    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply the migrations to DATABASE_URL")
    checklist = sub.add_parser("checklist", help="checklist template commands")
    checklist_sub = checklist.add_subparsers(dest="checklist_command", required=True)
    validate = checklist_sub.add_parser("validate", help="parse a Markdown checklist and report")
    validate.add_argument("path", type=Path)
    validate.add_argument(
        "--on",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="also print the calendar ([schedule] of LAUNCHBOT_CONFIG) for this launch day",
    )
    validate.add_argument(
        "--config", type=Path, help="also check this config file and report what its rules watch"
    )
    export = sub.add_parser("export", help="write a launch's full record (md, csv or json)")
    export.add_argument("launch", help="launch id (12 or #12) or exact name")
    export.add_argument("--format", choices=["md", "csv", "json"], default="md")
    export.add_argument("--output", type=Path, help="write to this file instead of stdout")
    audit = sub.add_parser("audit", help="audit trail commands")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="recompute a launch's event hash chain")
    verify.add_argument("launch", help="launch id (12 or #12) or exact name")
    playground = sub.add_parser("playground", help="the local Slack stand-in in a browser")
    playground.add_argument("--host", default="127.0.0.1")
    playground.add_argument("--port", type=int, default=3000)
    playground.add_argument("--fresh", action="store_true")
    playground.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="run the bot's clock N times real time (a rehearsal: --speed 60 makes an hour a minute)",
    )
    return parser


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("the speed must be a positive number")
    return value


def _fail(message: str) -> int:
    print(f"launchbot: {message}", file=sys.stderr)  # noqa: T201
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LAUNCHBOT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        return _fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    if args.command is None:
        if settings.slack_bot_token is None:
            return _playground(args)
        args = _parser().parse_args(["serve"])
    if args.command == "serve":
        socket_mode = args.socket or (settings.slack_app_token is not None and not args.http)
        try:
            settings.require(socket_mode=socket_mode)
            load_config(settings.launchbot_config)
        except ConfigError as exc:
            return _fail(str(exc))
        from bot.runtime import serve

        asyncio.run(serve(settings, host=args.host, port=args.port, socket_mode=socket_mode))
        return 0
    if args.command == "db":
        asyncio.run(migrate.upgrade(settings.database_url))
        print(f"launchbot: database at {_safe_url(settings.database_url)} is up to date")  # noqa: T201
        return 0
    if args.command == "checklist":
        ok, report = validate_template_file(args.path)
        print(report)  # noqa: T201
        if ok:
            for phase in load_template(args.path).phases:
                if golive_section_index(phase.sections) is not None:
                    print("\n".join(steps_report(phase.sections)))  # noqa: T201
            if args.on is not None:
                try:
                    rule = load_config(settings.launchbot_config).schedule
                except ConfigError as exc:
                    return _fail(str(exc))
                print(schedule_report(load_template(args.path), rule, args.on))  # noqa: T201
            if args.config is not None:
                try:
                    config = load_config(args.config)
                except ConfigError as exc:
                    return _fail(str(exc))
                report_lines = rules_report(load_template(args.path), config.prometheus.rules)
                print("\n".join(report_lines))  # noqa: T201
        return 0 if ok else 1
    if args.command == "playground":
        return _playground(args)
    if args.command in ("export", "audit"):
        return _audit_command(args, settings)
    return _fail(f"unknown command {args.command}")


def _playground(args: argparse.Namespace) -> int:
    """The local Slack stand-in in a browser; also what a bare ``launchbot`` runs without credentials."""
    from bot.playground import run

    return run(
        host=getattr(args, "host", "127.0.0.1"),
        port=getattr(args, "port", 3000),
        fresh=getattr(args, "fresh", False),
        speed=getattr(args, "speed", 1.0),
    )


def _audit_command(args: argparse.Namespace, settings: Settings) -> int:
    """``export`` and ``audit verify``: read-only, straight from DATABASE_URL."""
    from bot.audit.chain import verify_launch
    from bot.audit.report.export import export_launch
    from bot.core.clock import BotClock
    from bot.core.refusal import Refused

    try:
        if args.command == "export":
            roles = load_config(settings.launchbot_config).roles
            text = asyncio.run(
                export_launch(
                    settings.database_url,
                    args.launch,
                    args.format,
                    roles=roles,
                    # The bot's clock (LAUNCHBOT_CLOCK_START, LAUNCHBOT_TIME_SCALE), as every
                    # recorded time: a rehearsal's report is generated on its own clock.
                    now=BotClock(scale=settings.time_scale, start=settings.clock_start).now(),
                )
            )
            if args.output is None:
                sys.stdout.write(text)
            else:
                args.output.write_text(text, encoding="utf-8")
            return 0
        report = asyncio.run(verify_launch(settings.database_url, args.launch))
    except (Refused, ConfigError) as exc:
        from bot.core.mrkdwn import unescape

        # Refusals are written for Slack's mrkdwn (names escaped); a terminal shows them as typed.
        print(f"launchbot: {unescape(str(getattr(exc, 'message', exc)))}", file=sys.stderr)  # noqa: T201
        return 1
    if report.first_bad is not None:
        print(  # noqa: T201
            f"launchbot: audit chain of launch #{report.launch_id} is BROKEN at "
            f"{report.first_bad.describe()}"
        )
        return 1
    if report.mismatches:
        print(f"launchbot: launch #{report.launch_id}: the chain is intact but:")  # noqa: T201
        for problem in report.mismatches:
            print(f"  - {problem.describe()}")  # noqa: T201
        return 1
    print(  # noqa: T201
        f"launchbot: audit chain of launch #{report.launch_id} verified: "
        f"{report.events} events, head {report.head_hash}"
    )
    if report.unchecked:
        print("launchbot: these fields could not be checked, so they are not verified:")  # noqa: T201
        for gap in report.unchecked:
            print(f"  - {gap.describe()}")  # noqa: T201
    return 0


def _safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":
    sys.exit(main())
