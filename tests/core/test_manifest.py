"""app_manifest.yml is valid against Slack's manifest schema and declares what the code uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import yaml

from bot.core.ids import SLASH_COMMAND

ROOT = Path(__file__).resolve().parents[2]
# Slack's published manifest schema, kept in the repo so the check runs in any clone (MIT, see
# tests/data/manifest-schema.LICENSE).
SCHEMA = ROOT / "tests" / "data" / "manifest.schema.1.0.0.json"
# Web API methods the code may call, and the bot scope each needs (methods-catalog).
METHOD_SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "users_info": "users:read",
    "usergroups_users_list": "usergroups:read",
    "files_upload_v2": "files:write",
    "files_getUploadURLExternal": "files:write",
    "files_completeUploadExternal": "files:write",
}


def manifest() -> dict:
    return yaml.safe_load((ROOT / "app_manifest.yml").read_text())


def test_manifest_validates_against_slack_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(manifest()))
    assert errors == [], [e.message for e in errors]


def test_manifest_declares_the_command_interactivity_and_events_url() -> None:
    m = manifest()
    commands = m["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [SLASH_COMMAND]
    assert commands[0]["url"].endswith("/slack/events")
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["interactivity"]["request_url"].endswith("/slack/events")


def test_manifest_scopes_are_exactly_what_the_code_calls() -> None:
    source = "\n".join(
        p.read_text()
        for p in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("commands/*.py")]
        if "standin" not in p.parts
    )
    used = {scope for method, scope in METHOD_SCOPES.items() if re.search(rf"\b{method}\(", source)}
    declared = set(manifest()["oauth_config"]["scopes"]["bot"])
    assert declared == used | {"commands"}
