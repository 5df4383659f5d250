"""The playground in real headless Chromium (Debian's, driven by Playwright): a person rehearses a
launch as an engineer, an outsider and the CTO. Saves a screenshot of the final page."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.playground import Playground
from tests.playground.playground_helpers import running_playground

CHROMIUM = os.environ.get("LAUNCHBOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("LAUNCHBOT_ARTIFACTS", Path(__file__).parents[1] / "artifacts"))
# This machine's network is closed: without these flags Chromium keeps dialling Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEP_MS = 15_000

try:
    from playwright.async_api import Page, async_playwright, expect
except ImportError:  # pragma: no cover - only without the dev extra
    async_playwright = None  # type: ignore[assignment]

if async_playwright is None or not Path(CHROMIUM).exists():
    # CI installs both (.ci/run); there a missing browser is a failure, not a skip.
    if os.environ.get("CI"):
        raise RuntimeError(
            f"CI needs Playwright and Chromium at {CHROMIUM} (.ci/run installs them)"
        )
    pytest.skip("needs Playwright and Debian's chromium", allow_module_level=True)


@pytest.fixture(autouse=True)
def no_team_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LAUNCHBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def playground(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Playground]:
    """The playground; ``indirect`` parametrization gives its --speed."""
    speed = float(getattr(request, "param", 1.0))
    async with running_playground(tmp_path / "playground.db", speed=speed) as running:
        yield running


@pytest.fixture
async def page(playground: Playground) -> AsyncIterator[Page]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport={"width": 1440, "height": 960})
        tab = await context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        await tab.goto(playground.url)
        await expect(tab.locator("body")).to_have_attribute("data-ready", "1", timeout=STEP_MS)
        yield tab
        await browser.close()
        assert errors == [], f"the page threw: {errors}"


async def act_as(page: Page, label: str) -> None:
    await page.select_option("#user-switcher", label=label)
    await expect(page.locator("body")).to_have_attribute(
        "data-me", await page.locator("#user-switcher").input_value(), timeout=STEP_MS
    )


async def type_command(page: Page, text: str) -> None:
    await page.fill("#composer", text)
    await page.press("#composer", "Enter")


def approve_on_cto_row(page: Page) -> Any:
    card = page.locator("#messages .msg", has=page.locator("button", has_text="Approve")).last
    return card.locator(".bk-section", has_text="CTO").locator("button", has_text="Approve")


async def test_rehearse_a_launch_in_the_browser(page: Page, artifacts: Path) -> None:
    # As an engineer: start the launch, open the thread, tick two items.
    await act_as(page, "Alice Chen (engineer)")
    await type_command(page, "/launch start Rehearsal")
    card = page.locator("#messages .msg:not(.ephemeral)", has_text="Launch #1")
    await expect(card.locator(".bk-header")).to_contain_text("Rehearsal", timeout=STEP_MS)
    await expect(page.locator(".msg.ephemeral")).to_contain_text("Only visible to you")
    await card.locator(".thread-link").click(timeout=STEP_MS)
    boxes = page.locator("#thread .cb-option")
    await expect(boxes.first).to_be_visible(timeout=STEP_MS)
    for n in (0, 1):
        option = boxes.nth(n)
        await option.locator("input").check(timeout=STEP_MS)
        # Checked in the re-rendered message, with the name of who ticked it.
        await expect(option).to_have_class("cb-option checked", timeout=STEP_MS)
        await expect(option.locator(".cb-desc")).to_contain_text("alice", timeout=STEP_MS)
    await expect(page.locator("#thread .cb-option.checked")).to_have_count(2)
    await expect(card).to_contain_text("2/45")

    # As an outsider: the CTO's Approve asks for confirmation, then is refused, privately.
    await act_as(page, "Mallory (outsider)")
    await approve_on_cto_row(page).click()
    await page.locator("#confirm-dialog .confirm-yes").click(timeout=STEP_MS)
    refusal = page.locator(".msg.ephemeral", has_text="Only the CTO can approve this")
    await expect(refusal).to_be_visible(timeout=STEP_MS)
    await expect(refusal).to_contain_text("Only visible to you")
    await expect(card.locator(".bk-section", has_text="CTO").first).to_contain_text(
        "awaiting approval"
    )

    # As the CTO: the refusal was Mallory's alone; cancel once (a mis-tap), then approve.
    await act_as(page, "Carol Diaz (CTO)")
    await expect(page.locator(".msg.ephemeral", has_text="Only the CTO")).to_have_count(0)
    await approve_on_cto_row(page).click()
    await page.locator("#confirm-dialog .confirm-no").click(timeout=STEP_MS)
    await expect(page.locator("#confirm-dialog")).to_have_count(0)
    await expect(card).not_to_contain_text("Approved by")
    await approve_on_cto_row(page).click()
    await page.locator("#confirm-dialog .confirm-yes").click(timeout=STEP_MS)
    cto_row = card.locator(".bk-section", has_text="Approved by").first
    await expect(cto_row).to_contain_text("CTO", timeout=STEP_MS)
    await expect(cto_row.locator(".mention")).to_contain_text("@carol")

    shot = await page.screenshot(path=str(artifacts / "playground.png"), full_page=True)
    assert len(shot) > 10_000


SIGN_OFFS = (
    ("Carol Diaz (CTO)", "cto"),
    ("Hank Ito (Head of Trading)", "head_of_trading"),
    ("Sam Reyes (Security Officer)", "security_officer"),
    ("Dee Park (DevOps Lead)", "devops_lead"),
    ("Pat Lee (Product Owner)", "product_owner"),
)


@pytest.mark.parametrize("playground", [600], indirect=True)
async def test_rehearse_go_live_shadow_to_canary_at_speed(
    playground: Playground, page: Page, artifacts: Path
) -> None:
    """`launchbot playground --speed 600`: the 1 h shadow soak takes 6 s. The DevOps lead is
    refused by the gate, forces past the pre-launch checks (ticking 60 items by hand would only
    slow the test), soaks shadow mode until the reminder, and after GO advances into the canary."""
    await act_as(page, "Dee Park (DevOps Lead)")
    await expect(page.locator("#speed")).to_contain_text("600× real time")
    await type_command(page, "/launch start Rehearsal")
    card = page.locator("#messages .msg:not(.ephemeral)", has_text="Launch #1").first
    await expect(card).to_contain_text("rehearsal clock: 600× real time", timeout=STEP_MS)

    # The gate lists everything still open, to the DevOps lead only, and nothing moves.
    await type_command(page, "/launch advance")
    refusal = page.locator(".msg.ephemeral", has_text="Not advancing to")
    await expect(refusal.last).to_contain_text("Pre-Launch Phase", timeout=STEP_MS)
    await expect(refusal.last).to_contain_text("is not complete")

    await type_command(page, "/launch advance --force rehearsal: pre-launch checks done on paper")
    advanced = page.locator("#messages .msg", has_text="Advanced:")
    await expect(advanced.last).to_contain_text("Shadow Mode", timeout=STEP_MS)
    await expect(advanced.last).to_contain_text("Forced")
    await expect(page.locator("#sim-events")).to_contain_text(
        "Simulated router: Rehearsal 0% → 0% live", timeout=STEP_MS
    )

    # Straight on: refused, with the soak left and GO missing.
    await type_command(page, "/launch advance")
    await expect(refusal.last).to_contain_text("soak:", timeout=STEP_MS)
    await expect(refusal.last).to_contain_text("GO has not been declared")

    # An hour of bot time later (6 s here), one reminder in the thread.
    await card.locator(".thread-link").click(timeout=STEP_MS)
    reminder = page.locator("#thread .msg", has_text="has soaked 1 h")
    await expect(reminder).to_have_count(1, timeout=30_000)
    await expect(reminder).to_contain_text("Shadow Mode")

    for label, role in SIGN_OFFS:
        await act_as(page, label)
        await type_command(page, f"/launch signoff approve {role} --anyway")
        title = label.split("(")[1].rstrip(")")
        answer = page.locator(".msg.ephemeral", has_text=f"Approved as {title}")
        await expect(answer, f"{role}'s approval answered").to_be_visible(timeout=STEP_MS)
    await expect(page.locator("#messages")).to_contain_text("GO —", timeout=STEP_MS)

    await act_as(page, "Dee Park (DevOps Lead)")
    await type_command(page, "/launch advance --force shadow checks ticked in the runbook")
    await expect(advanced.last).to_contain_text(
        "Step 2/6 · Canary Deployment · 10% live", timeout=STEP_MS
    )
    await expect(page.locator("#sim-events")).to_contain_text("0% → 10% live", timeout=STEP_MS)
    await expect(card).to_contain_text("Canary Deployment", timeout=STEP_MS)

    shot = await page.screenshot(path=str(artifacts / "golive.png"), full_page=False)
    assert len(shot) > 10_000


async def test_kill_switch_modal_in_the_browser(page: Page) -> None:
    await act_as(page, "Hank Ito (Head of Trading)")
    await type_command(page, "/launch start Drill")
    await expect(page.locator("#messages .bk-header")).to_contain_text("Drill", timeout=STEP_MS)
    await type_command(page, "/launch killswitch")
    modal = page.locator("#modal-root .modal")
    await expect(modal).to_be_visible(timeout=STEP_MS)
    inputs = modal.locator("input, textarea")
    await inputs.nth(0).fill("Not the name")
    await inputs.nth(1).fill("rehearsal")
    await modal.locator(".modal-submit").click()
    # The modal stays open with the error under the field, and what was typed is kept.
    await expect(modal.locator(".bk-error").first).not_to_be_empty(timeout=STEP_MS)
    await expect(inputs.nth(1)).to_have_value("rehearsal")
    await inputs.nth(0).fill("Drill")
    await modal.locator(".modal-submit").click()
    await expect(modal).to_have_count(0, timeout=STEP_MS)
    announcement = page.locator("#messages .msg", has=page.locator(".mention.broadcast"))
    await expect(announcement.last).to_contain_text("@here", timeout=STEP_MS)
    await expect(page.locator("#sim-events")).to_contain_text("HALTED trading", timeout=STEP_MS)


async def test_mrkdwn_is_rendered_faithfully_and_safely(page: Page) -> None:
    rendered = await page.evaluate(
        """() => {
          const ctx = { userName: (id) => id === "U1" ? "Carol Diaz" : null, channelName: () => null };
          const r = (t) => Mrkdwn.render(t, ctx);
          return {
            styles: r("*bold* _italic_ ~gone~ `code &lt;x&gt;`"),
            link: r("<https://example.com/runbook|the runbook> and <javascript:alert(1)|bad>"),
            mention: r("*Approved by* <@U1> and <!here>"),
            entities: r("a &amp; b &lt;!channel&gt;"),
            raw: r("<script>alert(1)</script><img src=x onerror=alert(1)>"),
            date: r("<!date^0^{date_num}|fallback>"),
            badDate: r("<!date^soon^{date}|the fallback>"),
            pre: r("```line <1>\\nline 2```"),
            quote: r("> quoted\\nplain"),
          };
        }"""
    )
    assert "<b>bold</b>" in rendered["styles"] and "<i>italic</i>" in rendered["styles"]
    assert "<s>gone</s>" in rendered["styles"]
    assert "<code>code &lt;x&gt;</code>" in rendered["styles"]
    assert '<a href="https://example.com/runbook"' in rendered["link"]
    assert "the runbook</a>" in rendered["link"]
    assert "javascript:" not in rendered["link"] and "bad" in rendered["link"]
    assert "<b>Approved by</b>" in rendered["mention"] and "@Carol Diaz" in rendered["mention"]
    assert '<span class="mention broadcast">@here</span>' in rendered["mention"]
    assert rendered["entities"] == "a &amp; b &lt;!channel&gt;"
    assert "<script" not in rendered["raw"] and "<img" not in rendered["raw"]
    assert rendered["date"].startswith("<time") and "19" in rendered["date"]  # 1970 (or 1969 west)
    assert rendered["badDate"] == "the fallback"
    assert rendered["pre"] == "<pre>line &lt;1&gt;\nline 2</pre>"
    assert rendered["quote"].startswith("<blockquote>quoted</blockquote>")


async def test_on_a_phone_the_thread_is_full_width_the_switcher_holds_and_reload_forgets_ephemerals(
    playground: Playground,
) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(playground.url)
        await expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=STEP_MS)

        # The sidebar collapses into a bar above the channel; who you are stays at hand.
        sidebar = await page.locator("#sidebar").bounding_box()
        channel = await page.locator("#channel").bounding_box()
        assert sidebar and channel and sidebar["width"] == 390 and channel["width"] == 390
        assert channel["y"] >= sidebar["y"] + sidebar["height"] - 1
        await expect(page.locator("#user-switcher")).to_be_visible()
        await expect(page.locator("#sidebar .hint")).to_be_hidden()

        await act_as(page, "Alice Chen (engineer)")
        await type_command(page, "/launch start Rehearsal")
        card = page.locator("#messages .msg:not(.ephemeral)", has_text="Launch #1")
        await expect(card.locator(".bk-header")).to_contain_text("Rehearsal", timeout=STEP_MS)
        await expect(page.locator(".msg.ephemeral")).to_have_count(1, timeout=STEP_MS)

        # An open thread takes the whole screen.
        await card.locator(".thread-link").click(timeout=STEP_MS)
        await expect(page.locator("#thread .cb-option").first).to_be_visible(timeout=STEP_MS)
        thread = await page.locator("#thread").bounding_box()
        assert thread and thread["x"] == 0 and thread["width"] == 390, thread
        await page.locator("#thread-close").click()
        await expect(page.locator("#thread")).to_be_hidden()

        # A /state read for Alice still in flight when Carol is chosen never switches back.
        async def slow_for_alice(route: Any) -> None:
            if "user=U0ALICE001" in route.request.url:
                await asyncio.sleep(1.0)
            await route.continue_()

        await page.route("**/state*", slow_for_alice)
        await type_command(page, "/launch help")  # the channel changes: a read as Alice starts
        await page.wait_for_timeout(200)
        await page.select_option("#user-switcher", label="Carol Diaz (CTO)")
        await page.wait_for_timeout(1500)  # Alice's read has answered by now
        assert await page.locator("#user-switcher").input_value() == "U0CAROL001"
        await expect(page.locator("body")).to_have_attribute("data-me", "U0CAROL001")
        await page.unroute("**/state*")

        # Ephemeral messages live in the page, as in Slack: a reload forgets them.
        await act_as(page, "Alice Chen (engineer)")
        await expect(page.locator(".msg.ephemeral").first).to_be_visible(timeout=STEP_MS)
        await page.reload()
        await expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=STEP_MS)
        await expect(card.locator(".bk-header")).to_contain_text("Rehearsal", timeout=STEP_MS)
        await expect(page.locator(".msg.ephemeral")).to_have_count(0)
        await type_command(page, "/launch help")
        await expect(page.locator(".msg.ephemeral")).to_have_count(1, timeout=STEP_MS)

        # Scrolled up to the card, a message someone else posts lands below the fold: a "New
        # messages" pill says so, as in Slack, and takes you there.
        to_top = "el => { el.scrollTop = 0; return el.scrollHeight - el.clientHeight; }"
        below = await page.locator("#messages").evaluate(to_top)
        assert below > 400, "the channel should be taller than the screen here"
        pill = page.locator("#new-messages")
        await expect(pill).to_be_hidden()
        await page.evaluate(
            """() => fetch("/act/command", {
              method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ user: "U0HANK0001", text: "/launch contacts public" }),
            })"""
        )
        contacts = page.locator("#messages .msg:not(.ephemeral)", has_text="Emergency contacts")
        await expect(contacts).to_have_count(1, timeout=STEP_MS)
        await expect(contacts).not_to_be_in_viewport()
        await expect(pill).to_be_visible()
        await pill.click()
        await expect(contacts).to_be_in_viewport(timeout=STEP_MS)
        await expect(pill).to_be_hidden()

        # Scrolled up, whoever sends a command jumps to the latest message and sees its answer.
        await page.locator("#messages").evaluate(to_top)
        await type_command(page, "/launch status")
        status = page.locator(".msg.ephemeral", has_text="Status · Rehearsal")
        await expect(status).to_be_in_viewport(timeout=STEP_MS)
        await browser.close()
        assert errors == [], f"the page threw: {errors}"


async def test_waive_from_a_groups_menu_then_close_with_an_outcome_in_the_browser(
    page: Page, artifacts: Path
) -> None:
    """The CTO waives an item from its group's ⋯ menu (a missing reason is shown in the form),
    then closes: the confirmation says what is open, asks for an outcome and a note, and the card
    reads ✅ CLOSED with the outcome."""
    await act_as(page, "Carol Diaz (CTO)")
    await type_command(page, "/launch start Rehearsal")
    card = page.locator("#messages .msg:not(.ephemeral)", has_text="Launch #1")
    await expect(card.locator(".bk-header")).to_contain_text("Rehearsal", timeout=STEP_MS)
    await card.locator(".thread-link").click(timeout=STEP_MS)
    menu = page.locator("#thread select.bk-overflow").first
    await expect(menu).to_be_visible(timeout=STEP_MS)
    await menu.select_option(label="Waive an item…")

    modal = page.locator("#modal-root .modal")
    await expect(modal.locator("header")).to_contain_text("Waive an item", timeout=STEP_MS)
    items = modal.locator("select[data-kind=select]")
    item = (await items.locator("option").nth(1).inner_text()).strip()
    await items.select_option(index=1)
    await modal.locator("input[type=radio][value=not_applicable]").check()
    await modal.locator(".modal-submit").click()
    reason_error = modal.locator("[data-error-for=launch-waive-reason]")
    await expect(reason_error).to_contain_text("Give a reason", timeout=STEP_MS)
    await expect(items).to_have_value(await items.input_value())  # the choice is kept
    await modal.locator("textarea").fill("single-region rehearsal")
    await modal.locator(".modal-submit").click()
    await expect(modal).to_have_count(0, timeout=STEP_MS)
    waived = page.locator("#thread .cb-option", has=page.locator("s", has_text=item))
    await expect(waived).to_contain_text("N/A by", timeout=STEP_MS)
    await expect(waived).to_contain_text("single-region rehearsal")
    await waived.scroll_into_view_if_needed()
    await page.screenshot(path=str(artifacts / "waiver.png"), full_page=False)
    await page.locator("#thread-close").click()

    await type_command(page, "/launch close")
    await expect(modal.locator("header")).to_contain_text("Close the launch", timeout=STEP_MS)
    await expect(modal).to_contain_text("Still open")
    await expect(modal).to_contain_text("open item(s)")
    await expect(modal).to_contain_text("not GO")
    await modal.locator("input[type=radio][value=rolled_back]").check()
    await modal.locator(".modal-submit").click()
    await expect(modal.locator("[data-error-for=launch-close-note]")).to_contain_text(
        "needs a note", timeout=STEP_MS
    )
    await modal.locator("textarea").fill("rehearsal over: rolled back at 25%")
    await modal.locator(".modal-submit").click()
    await expect(modal).to_have_count(0, timeout=STEP_MS)
    await expect(card).to_contain_text("✅ CLOSED", timeout=STEP_MS)
    await expect(card).to_contain_text("Rolled back")
    await expect(card).to_contain_text("rehearsal over: rolled back at 25%")
    await expect(page.locator("#messages .msg", has_text="Closed Rehearsal").last).to_contain_text(
        "Rolled back", timeout=STEP_MS
    )
    shot = await page.screenshot(path=str(artifacts / "closed.png"), full_page=False)
    assert len(shot) > 10_000
