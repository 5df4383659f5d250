"""The @app.error handler: a Refused becomes a friendly ephemeral answer; anything else is logged
with a short incident id the user can quote."""

from __future__ import annotations

import json
import logging
import uuid

from slack_bolt.response import BoltResponse

from bot.core.refusal import Refused

logger = logging.getLogger(__name__)


async def handle_error(error: Exception, body: dict[str, object] | None) -> BoltResponse:
    if isinstance(error, Refused):
        text = error.text
    else:
        incident = uuid.uuid4().hex[:8]
        kind = (body or {}).get("type") or (body or {}).get("command") or "request"
        logger.exception(
            "unhandled error in %s listener (incident %s)", kind, incident, exc_info=error
        )
        text = f":x: Something went wrong on our side (incident `{incident}`). It was logged; please try again."
    # Always 200: a 5xx makes Slack show a generic failure and hides our explanation.
    return BoltResponse(
        status=200,
        body=json.dumps({"response_type": "ephemeral", "text": text}),
        headers={"content-type": "application/json"},
    )
