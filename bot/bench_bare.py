"""The benchmark's baseline: a bare slack-bolt AsyncApp that only acks, served like the bot (aiohttp)."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient


def build() -> web.Application:
    app = AsyncApp(
        client=AsyncWebClient(
            token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]
        ),
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=True,
    )

    @app.action(re.compile(".*"))  # every block action, whatever its action_id
    async def ack_only(ack: Any) -> None:
        await ack()

    async def events(request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        response = await app.async_dispatch(
            AsyncBoltRequest(body=body, headers=dict(request.headers))
        )
        return web.Response(status=response.status, text=response.body)

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    web_app = web.Application()
    web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", healthz)
    return web_app


if __name__ == "__main__":
    web.run_app(build(), host="127.0.0.1", port=int(sys.argv[1]), print=None)
