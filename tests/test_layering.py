"""The import rules of the layout hold: domain code knows nothing of Slack or HTTP (AST scan)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PURE = {
    "bot/checklist.py",
    "bot/template.py",
    "bot/models.py",
    "bot/errors.py",
    "bot/layout.py",
    "bot/blocks.py",
    "bot/db.py",
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules() -> dict[str, set[str]]:
    files = [*ROOT.glob("bot/**/*.py"), *ROOT.glob("commands/*.py")]
    return {str(p.relative_to(ROOT)): imports(p) for p in files}


def test_domain_modules_import_neither_slack_nor_httpx() -> None:
    for name, imported in modules().items():
        if name in PURE:
            bad = {
                m
                for m in imported
                if m.split(".")[0] in {"slack_bolt", "slack_sdk", "httpx", "aiohttp"}
            }
            assert not bad, f"{name} imports {bad}"


def test_commands_never_import_the_composition_root() -> None:
    for name, imported in modules().items():
        if name.startswith("commands/"):
            assert not {"bot.app", "bot.__main__", "bot.runtime"} & imported, name


def test_only_glue_modules_import_slack_bolt() -> None:
    # Listeners live in bot/*actions.py and commands/__init__.py; the rest compose or serve the app.
    glue = {
        "bot/app.py",
        "bot/deps.py",
        "bot/error_handler.py",
        "bot/server.py",
        "bot/runtime.py",
        "bot/bench_bare.py",
        "commands/__init__.py",
    }
    for name, imported in modules().items():
        if any(m.split(".")[0] == "slack_bolt" for m in imported):
            assert (
                name in glue or name.endswith("actions.py") or name.startswith("bot/playground")
            ), name
