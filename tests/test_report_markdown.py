"""The Markdown report shows user text as text: a viewer that renders HTML inside Markdown must
not run a launch name or a comment."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.audit.report import export_launch
from tests.warroom import WarRoom

ALICE, CTO = "U0ALICE001", "U0CTO00001"


async def test_user_html_in_the_markdown_report_is_escaped(room: WarRoom) -> None:
    await room.command(ALICE, "start <script>alert(1)</script> R&D")
    await room.command(CTO, 'signoff approve cto "<img src=x onerror=alert(1)> | ok"')
    text = await export_launch(
        room.bot.deps.settings.database_url,
        "1",
        "md",
        roles=room.bot.deps.config.roles,
        now=datetime.now(UTC),
    )
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; R&amp;D" in text
    assert "&lt;img src=x onerror=alert(1)&gt; \\| ok" in text
