"""The report's formats: a record rendered as Markdown, CSV or JSON, its file name, and
``launchbot export`` (read the launch's record straight from the database, render it)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from bot.audit.record.build import build_record
from bot.audit.report.csv_rows import render_csv
from bot.audit.report.markdown import render_markdown
from bot.core.config import RoleConfig
from bot.core.db import open_database
from bot.core.launches import find_launch

Format = Literal["md", "csv", "json"]
FORMATS: tuple[Format, ...] = ("md", "csv", "json")
MEDIA_TYPES: dict[Format, str] = {
    "md": "text/markdown",
    "csv": "text/csv",
    "json": "application/json",
}


def render(record: Mapping[str, Any], fmt: Format) -> str:
    if fmt == "json":
        return render_json(record)
    if fmt == "csv":
        return render_csv(record)
    return render_markdown(record)


def filename(record: Mapping[str, Any], fmt: Format) -> str:
    launch = record["launch"]
    slug = re.sub(r"[^a-z0-9]+", "-", str(launch["name"]).lower()).strip("-")[:40] or "launch"
    return f"launch-{launch['id']}-{slug}-report.{fmt}"


def render_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


async def export_launch(
    database_url: str, ref: str, fmt: Format, *, roles: Mapping[str, RoleConfig], now: datetime
) -> str:
    """``launchbot export``: open the database, find the launch by id or name, render its record."""
    db = open_database(database_url)
    try:
        async with db.read_sessions() as session:
            launch = await find_launch(session=session, ref=ref)
            record = await build_record(session=session, launch_id=launch.id, now=now, roles=roles)
    finally:
        await db.dispose()
    return render(record, fmt)
