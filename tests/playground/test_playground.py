"""The playground without a browser: the page's routes drive the unchanged bot (a child `launchbot
serve`) through the Slack stand-in, with signed Slack-shaped requests, and show what each person sees."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

import bot.__main__ as cli
from bot.playground import process
from bot.playground.config import bot_config, default_config, render_config
from bot.playground.store import ChannelStore
from tests.playground.playground_helpers import (
    CTO,
    DEVOPS,
    ENGINEER,
    OUTSIDER,
    Page,
    all_text,
    approve_button,
    card,
    mrkdwn_texts,
    press,
    running_playground,
    thread_checkboxes,
    tick,
    ticked_options,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_team_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The playground reads ./launchbot.toml or LAUNCHBOT_CONFIG: a developer's own must not leak in.
    monkeypatch.delenv("LAUNCHBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


async def test_a_rehearsal_through_the_page(tmp_path: Path) -> None:
    async with (
        running_playground(tmp_path / "playground.db") as playground,
        aiohttp.ClientSession() as http,
    ):
        page = Page(playground, http)
        async with http.get(playground.url) as r:
            assert r.status == 200
            assert "#war-room" in await r.text()
        async with http.get(f"{playground.url}static/app.js") as r:
            assert r.status == 200
        async with http.get(f"{playground.url}static/..%2Fserver.py") as r:
            assert r.status == 404

        # An engineer starts a launch whose name tries to ping everyone.
        await page.type(ENGINEER, "/launch start Rehearsal <!channel>")
        launch = await page.until(ENGINEER, card, "the launch card")
        shown = mrkdwn_texts(launch)
        assert "Rehearsal &lt;!channel&gt;" in shown and "<!channel>" not in shown
        threads = await page.until(
            ENGINEER, lambda s: thread_checkboxes(s, launch["ts"]), "the checklist thread"
        )

        # Tick two items; each is shown checked with who did it.
        element = threads[0][2]
        first, second = element["options"][0]["value"], element["options"][1]["value"]
        for value in (first, second):  # the second from the view before the first re-render
            await tick(page, ENGINEER, launch["ts"], threads[0], value, f"item {value} checked")
        state = await page.state(ENGINEER)
        ticked = ticked_options(state, launch["ts"])
        assert {o["value"] for o in ticked} == {first, second}
        assert all("alice" in json.dumps(o.get("description", {})).lower() for o in ticked)

        # The outsider presses the CTO's Approve: refused, only they see it, nothing changes.
        launch = card(state)
        assert launch is not None
        block_id, approve = approve_button(launch, "CTO")
        await press(page, OUTSIDER, launch, block_id, approve)
        refusal = await page.until(
            OUTSIDER,
            lambda s: next((e for e in s["ephemerals"] if "Only the CTO" in all_text(e)), None),
            "the refusal",
        )
        assert refusal["ephemeral"]
        assert not any("Only the CTO" in all_text(e) for e in (await page.state(CTO))["ephemerals"])
        assert "Approved by" not in all_text(card(await page.state(OUTSIDER)) or {})

        # The CTO approves: the row says so, for everyone.
        await press(page, CTO, launch, block_id, approve)
        approved = await page.until(
            OUTSIDER,
            lambda s: "Approved by" in all_text(card(s) or {}) and card(s),
            "the CTO row approved",
        )
        assert "U0CAROL001" in all_text(approved) or "Carol" in all_text(approved)

        # A second press from the page still showing Approve (it is Revoke now) is delivered as
        # Slack would, and the bot keeps one sign-off.
        await press(page, CTO, launch, block_id, approve)
        await page.until(
            CTO,
            lambda s: any("already" in all_text(e).lower() for e in s["ephemerals"]),
            "the answer to the second press",
        )
        assert all_text(card(await page.state(CTO)) or {}).count("Approved by") == 1


async def test_what_slack_itself_would_answer_and_plain_messages(tmp_path: Path) -> None:
    async with (
        running_playground(tmp_path / "playground.db") as playground,
        aiohttp.ClientSession() as http,
    ):
        page = Page(playground, http)
        result = await page.type(ENGINEER, "/deploy now")
        assert result["error"] == "unknown_command"
        await page.type(ENGINEER, "hello <@U0CAROL001> & <script>alert(1)</script>")
        state = await page.state(ENGINEER)
        said = [m for m in state["messages"] if m["user"] == ENGINEER]
        assert (
            said[-1]["text"]
            == "hello &lt;@U0CAROL001&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;"
        )
        slackbot = [e for e in state["ephemerals"] if e["user"] == "USLACKBOT"]
        assert "`/deploy` is not a valid command" in slackbot[-1]["text"]
        # Nobody else sees Slackbot's answer to Alice.
        assert not [e for e in (await page.state(CTO))["ephemerals"] if e["user"] == "USLACKBOT"]

        # As in Slack, app commands do not run in threads.
        parent = said[-1]["ts"]
        result = await page.type(ENGINEER, "/launch status", thread_ts=parent)
        assert result["error"] == "not_in_thread"

        # Unknown people and bad bodies are refused without touching the bot.
        status, _ = await page.act("command", user="U0NOBODY01", text="/launch help")
        assert status == 400
        async with http.post(
            f"{playground.url}act/click",
            data=b"not json",
            headers={"Content-Type": "application/json"},
        ) as r:
            assert r.status == 400

        # Another site open in the same browser cannot act as the CTO: a no-preflight text body
        # is refused, and so is a JSON one from a foreign origin.
        forged = json.dumps({"user": CTO, "text": "/launch start Forged"})
        for headers, refused in (
            ({"Content-Type": "text/plain"}, 415),
            ({"Content-Type": "application/json", "Origin": "http://evil.example"}, 403),
            ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403),
        ):
            async with http.post(f"{playground.url}act/command", data=forged, headers=headers) as r:
                assert r.status == refused, headers
        assert not any("Forged" in all_text(m) for m in (await page.state(CTO))["messages"])

        # /launch help answers in the ack, ephemeral to the one who typed it.
        await page.type(OUTSIDER, "/launch help")
        help_text = await page.until(
            OUTSIDER,
            lambda s: next((e for e in s["ephemerals"] if "/launch start" in all_text(e)), None),
            "the help",
        )
        assert help_text["user"] == state["bot_user_id"]


async def test_events_stream_tells_the_page_when_to_read_again(tmp_path: Path) -> None:
    async with (
        running_playground(tmp_path / "playground.db") as playground,
        aiohttp.ClientSession() as http,
    ):
        page = Page(playground, http)
        async with http.get(f"{playground.url}events") as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            hello = await asyncio.wait_for(stream.content.readline(), 5)
            assert hello.startswith(b"retry:")
            await page.type(ENGINEER, "/launch start Streamed")
            kinds = set()
            while "message" not in kinds:
                line = await asyncio.wait_for(stream.content.readline(), 10)
                if line.startswith(b"data: "):
                    kinds.add(json.loads(line[6:])["kind"])


async def test_kill_switch_rehearsal_fires_the_simulator_not_a_real_system(tmp_path: Path) -> None:
    async with (
        running_playground(tmp_path / "playground.db") as playground,
        aiohttp.ClientSession() as http,
    ):
        page = Page(playground, http)
        await page.type(ENGINEER, "/launch start Drill")
        await page.until(ENGINEER, card, "the launch card")

        # The engineer may open the modal but is refused on submit; the CTO fires.
        for who in (ENGINEER, CTO):
            await page.type(who, "/launch killswitch")
            view = await page.until(who, lambda s: s["views"] and s["views"][-1], "the modal")
            status, result = await page.act(
                "submit",
                user=who,
                view_id=view["id"],
                values={
                    "launch-killswitch-name": {
                        "launch-killswitch-name": {"type": "plain_text_input", "value": "Drill"}
                    },
                    "launch-killswitch-reason": {
                        "launch-killswitch-reason": {
                            "type": "plain_text_input",
                            "value": "rehearsing the 3 a.m. drill",
                        }
                    },
                },
            )
            assert status == 200 and result["ok"], result
            if who == ENGINEER:
                assert result["open"] and "Only these roles" in json.dumps(result["errors"])
                await page.act("close", user=who, view_id=view["id"])
                assert not (await page.state(who))["views"]
        fired = await page.until(
            OUTSIDER,
            lambda s: next((m for m in s["messages"] if "<!here>" in m["text"]), None),
            "the @here announcement",
        )
        state = await page.state(OUTSIDER)
        assert any("HALTED trading" in e["text"] for e in state["sim_events"])
        assert "FAILED" not in fired["text"]


async def test_a_rehearsal_at_speed_moves_simulated_traffic_and_soaks_in_seconds(
    tmp_path: Path,
) -> None:
    """--speed 600: the bot's clock runs 600× (the card and the page say so), a stage change is a
    signed request to the traffic simulator, and the 1 h shadow soak's reminder comes in ~6 s."""
    async with (
        running_playground(tmp_path / "playground.db", speed=600) as playground,
        aiohttp.ClientSession() as http,
    ):
        page = Page(playground, http)
        assert (await page.state(DEVOPS))["speed"] == 600
        await page.type(DEVOPS, "/launch start Rehearsal")
        launch = await page.until(DEVOPS, card, "the launch card")
        assert "600× real time" in all_text(launch)
        await page.type(DEVOPS, "/launch advance")
        await page.until(
            DEVOPS,
            lambda s: any(
                "Pre-Launch Phase* is not complete" in all_text(e) for e in s["ephemerals"]
            ),
            "the gate's refusal",
        )
        await page.type(ENGINEER, "/launch advance --force rehearsal")
        await page.until(
            ENGINEER,
            lambda s: any("Only DevOps Lead, CTO may" in all_text(e) for e in s["ephemerals"]),
            "the engineer refused",
        )
        await page.type(DEVOPS, "/launch advance --force rehearsal: checks done on paper")
        moved = await page.until(
            DEVOPS,
            lambda s: [e for e in s["sim_events"] if e["kind"] == "traffic"],
            "the traffic simulator called",
        )
        assert (
            "Simulated router: Rehearsal 0% → 0% live (Step 1/6 · Shadow Mode" in moved[0]["text"]
        )
        [sent] = playground.simulators.traffic.requests
        assert sent.signature_ok and sent.idempotency_key == sent.json["request_id"]
        started = asyncio.get_running_loop().time()
        await page.until(
            DEVOPS,
            lambda s: any("Shadow Mode* has soaked 1 h" in m["text"] for m in s["messages"]),
            "the soak reminder",
            within=30,
        )
        assert asyncio.get_running_loop().time() - started < 20


async def test_the_channel_survives_a_restart_and_fresh_starts_over(tmp_path: Path) -> None:
    db = tmp_path / "playground.db"
    async with running_playground(db) as playground, aiohttp.ClientSession() as http:
        page = Page(playground, http)
        await page.type(ENGINEER, "/launch start Persisted")
        launch = await page.until(ENGINEER, card, "the launch card")
        await page.until(ENGINEER, lambda s: thread_checkboxes(s, launch["ts"]), "the thread")

    # Same file: the messages are back and a click on them still reaches the bot's launch.
    async with running_playground(db) as playground, aiohttp.ClientSession() as http:
        page = Page(playground, http)
        state = await page.state(ENGINEER)
        restored = card(state)
        assert restored is not None and restored["ts"] == launch["ts"]
        found = thread_checkboxes(state, launch["ts"])[0]
        value = found[2]["options"][0]["value"]
        await tick(page, ENGINEER, launch["ts"], found, value, "the click after the restart")
        await page.type(ENGINEER, "/launch start Another")
        await page.until(
            ENGINEER,
            lambda s: any("already" in all_text(e) for e in s["ephemerals"]),
            "one active launch per channel, remembered across the restart",
        )

    async with running_playground(db, fresh=True) as playground, aiohttp.ClientSession() as http:
        state = await Page(playground, http).state(ENGINEER)
        assert state["messages"] == [] and card(state) is None


def test_rehearsal_config_points_outside_systems_at_the_simulators() -> None:
    team = {
        "roles": {"cto": {"title": "CTO", "users": ["U0REALCTO1"]}},
        "killswitch": {"url": "https://trading.example/kill", "allowed_roles": ["cto"]},
        "pagerduty": {"url": "https://events.pagerduty.com/v2/enqueue", "routing_key": "REAL"},
        "template": "checklists/ours.md",
    }
    team["golive"] = {"allowed_roles": ["cto"], "traffic_url": "https://router.example/weights"}
    config = bot_config(
        team,
        sim_url="http://127.0.0.1:1/sim",
        killswitch_secret="s",
        traffic_secret="t",
        source=Path("/team/x.toml"),
    )
    assert config["killswitch"]["url"] == "http://127.0.0.1:1/sim/killswitch"
    assert config["golive"]["traffic_url"] == "http://127.0.0.1:1/sim/traffic"
    assert config["golive"]["traffic_secret"] == "t"
    assert config["golive"]["allowed_roles"] == ["cto"]  # the team's own roles are kept
    assert config["pagerduty"]["url"] == "http://127.0.0.1:1/sim/pagerduty"
    assert config["pagerduty"]["routing_key"] != "REAL"
    assert config["template"] == "/team/checklists/ours.md"
    assert (
        team["killswitch"]["url"] == "https://trading.example/kill"
    )  # the team's own is untouched
    import tomllib

    assert tomllib.loads(render_config(config)) == config
    assert tomllib.loads(render_config(default_config()))["roles"]["cto"]["users"] == [CTO]
    # The DevOps lead and the CTO move the rollout in a rehearsal.
    assert default_config()["golive"]["allowed_roles"] == ["devops_lead", "cto"]


def test_channel_store_round_trip(tmp_path: Path) -> None:
    store = ChannelStore(tmp_path / "p.db")
    assert store.load() is None
    store.save({"version": 1, "messages": [{"ts": "1.000001"}]})
    store.save({"version": 1, "messages": [{"ts": "2.000001"}]})
    assert store.load() == {"version": 1, "messages": [{"ts": "2.000001"}]}


def test_bare_launchbot_without_credentials_opens_the_playground(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    calls: list[dict[str, object]] = []
    monkeypatch.setattr("bot.playground.run", lambda **kw: calls.append(kw) or 0)
    assert cli.main([]) == 0
    assert calls == [{"host": "127.0.0.1", "port": 3000, "fresh": False, "speed": 1.0}]
    calls.clear()
    assert cli.main(["playground", "--speed", "600"]) == 0
    assert calls[0]["speed"] == 600.0
    for bad in ("0", "-5", "fast", "nan"):
        with pytest.raises(SystemExit):
            cli.main(["playground", "--speed", bad])


def test_launchbot_playground_command_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LAUNCHBOT_CONFIG"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "playground", "--port", "0"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "#war-room is open at http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split(" at ", 1)[1].strip()
        assert not url.endswith(":0/")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stopped" in out
        assert (tmp_path / "playground.db").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_report_file_and_a_team_config_in_the_playground(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A team's own config: its role holders join the switcher; its real kill switch is never used.
    (tmp_path / "launchbot.toml").write_text(
        '[roles.cto]\ntitle = "CTO"\nusers = ["U0TEAMCTO1"]\n\n'
        '[killswitch]\nurl = "http://127.0.0.1:9/never"\nallowed_roles = ["cto"]\n',
        encoding="utf-8",
    )
    async with (
        running_playground(tmp_path / "playground.db") as playground,
        aiohttp.ClientSession() as http,
    ):
        page = Page(playground, http)
        state = await page.state(ENGINEER)
        assert "U0TEAMCTO1" in state["people"]
        await page.type(ENGINEER, "/launch start Reported")
        await page.until(ENGINEER, card, "the launch card")
        await page.type(ENGINEER, "/launch report json")
        shared = await page.until(
            ENGINEER,
            lambda s: next((f for m in s["messages"] for f in m["files"]), None),
            "the uploaded report",
        )
        async with http.get(f"{playground.url.rstrip('/')}{shared['url']}") as r:
            assert r.status == 200
            record = json.loads(await r.read())
        assert record["launch"]["name"] == "Reported"


async def test_the_bot_starts_on_another_port_when_its_port_was_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        real = process.free_port
        monkeypatch.setattr(process, "free_port", lambda: next(ports, None) or real())
        async with running_playground(tmp_path / "playground.db") as playground:
            assert playground.ready
            assert str(taken.getsockname()[1]) not in playground.standin.app_url


async def test_a_waiver_from_a_groups_menu_through_the_page(tmp_path: Path) -> None:
    """The page sends a choice in a group's ⋯ menu like Slack, the waiver form opens, and its
    select, radio buttons and reason are submitted as Slack's state.values."""
    async with (
        running_playground(tmp_path / "playground.db") as playground,
        aiohttp.ClientSession() as http,
    ):
        page = Page(playground, http)
        await page.type(CTO, "/launch start Rehearsal")
        launch = await page.until(CTO, card, "the launch card")
        message, block, element = (
            await page.until(
                CTO, lambda s: thread_checkboxes(s, launch["ts"]), "the checklist thread"
            )
        )[0]
        menu = next(
            b["accessory"]
            for b in message["blocks"]
            if (b.get("accessory") or {}).get("type") == "overflow"
        )
        waive = next(o["value"] for o in menu["options"] if o["value"].startswith("waive:"))
        status, result = await page.act(
            "click",
            user=CTO,
            kind="overflow",
            ts=message["ts"],
            action_id=menu["action_id"],
            value=waive,
        )
        assert status == 200 and result["ok"], result
        view = await page.until(CTO, lambda s: s["views"] and s["views"][-1], "the waiver form")
        first = element["options"][0]
        values = {
            "launch-waive-item": {
                "launch-waive-item": {
                    "type": "static_select",
                    "selected_option": {"value": first["value"]},
                }
            },
            "launch-waive-kind": {
                "launch-waive-kind": {
                    "type": "radio_buttons",
                    "selected_option": {"value": "not_applicable"},
                }
            },
            "launch-waive-reason": {
                "launch-waive-reason": {"type": "plain_text_input", "value": "paper drill"}
            },
        }
        status, result = await page.act("submit", user=CTO, view_id=view["id"], values=values)
        assert status == 200 and result["ok"] and not result["open"], result
        struck = await page.until(
            CTO,
            lambda s: next(
                (o for o in ticked_options(s, launch["ts"]) if o["value"] == first["value"]), None
            ),
            "the item waived",
        )
        assert struck["text"]["text"].startswith("~") and "paper drill" in str(struck)
