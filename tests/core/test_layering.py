"""The import rules of the layout hold (AST scan of bot/ and commands/); a failure names the import.

- ``bot/core`` imports no feature and nothing above it;
- a feature's rules (every module but ``blocks``/``*_blocks``, ``listeners`` and ``*flows``/clients) import neither
  Slack, httpx, nor any feature's blocks, listeners or flows;
- blocks are pure: no database, Slack or HTTP;
- listeners import no other listeners; commands import no listeners and not the composition root;
- no import inside a function, except the command line's lazy ones;
- zero cycles between modules, and between packages below the listeners.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Every package of bot/ is a feature, but the core and the local Slack (stand-in, playground).
FEATURES = tuple(
    sorted(
        p.parent.name
        for p in (ROOT / "bot").glob("*/__init__.py")
        if p.parent.name not in {"core", "standin", "playground"}
    )
)
FIRST_PARTY = ("bot", "commands")
SLACK_OR_HTTP = {"slack_bolt", "slack_sdk", "httpx", "aiohttp"}
# Modules of a feature that may do I/O beyond the database: they call Slack or an outside system.
FLOW_SUFFIXES = ("flows", "applier", "pagerduty", "inbox", "client")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts as ``a.b`` when that is a module)."""
    tree = ast.parse(path.read_text())
    module = module_name(path)
    names: set[str] = set()
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.If):  # TYPE_CHECKING blocks still count
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, path.name == "__init__.py")
            names.add(target)
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                if _exists(candidate):
                    names.add(candidate)
    return names


def _exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def sources() -> dict[str, Path]:
    files = [*ROOT.glob("bot/**/*.py"), *ROOT.glob("commands/*.py")]
    return {module_name(p): p for p in files}


def first_party_graph() -> dict[str, set[str]]:
    mods = sources()
    return {
        name: {m for m in imports(path) if m in mods and m != name} for name, path in mods.items()
    }


def role(module: str) -> str:
    """core, listeners, blocks, flows, rules (of a feature), commands or root (composition, CLI)."""
    parts = module.split(".")
    if parts[0] == "commands":
        return "commands"
    if len(parts) >= 2 and parts[1] == "core":
        return "core"
    if len(parts) >= 3 and parts[1] in FEATURES:
        leaf = parts[-1]
        if leaf == "listeners":
            return "listeners"
        if leaf == "blocks" or leaf.endswith("_blocks"):
            return "blocks"  # a feature's builders may be split by concern (escalation_blocks, …)
        if leaf.endswith(FLOW_SUFFIXES):
            return "flows"
        return "rules"
    return "root"


def feature_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) >= 3 and parts[1] in FEATURES else None


def violations(rule: str) -> Iterator[str]:
    graph = first_party_graph()
    for name, targets in graph.items():
        mine = role(name)
        for target in sorted(targets):
            theirs = role(target)
            if rule == "core" and mine == "core" and theirs != "core":
                yield f"{name} (core) imports {target}"
            if rule == "rules" and mine == "rules" and theirs in {"blocks", "listeners", "flows"}:
                yield f"{name} (rules) imports {target} ({theirs})"
            if rule == "rules" and mine == "rules" and theirs == "root":
                yield f"{name} (rules) imports {target} (composition)"
            if rule == "listeners" and mine == "listeners" and theirs == "listeners":
                yield f"{name} (listeners) imports {target} (listeners)"
            if rule == "commands" and mine == "commands" and theirs == "listeners":
                yield f"{name} (command) imports {target} (listeners)"
            if (
                rule == "commands"
                and mine == "commands"
                and target
                in {
                    "bot.app",
                    "bot.__main__",
                    "bot.runtime",
                }
            ):
                yield f"{name} (command) imports the composition root {target}"


def test_core_imports_no_feature() -> None:
    assert not list(violations("core"))


def test_rules_import_neither_blocks_nor_listeners_nor_flows() -> None:
    assert not list(violations("rules"))


def test_listeners_import_no_other_listeners() -> None:
    assert not list(violations("listeners"))


def test_commands_import_no_listeners_and_not_the_composition_root() -> None:
    assert not list(violations("commands"))


def test_rules_and_blocks_know_nothing_of_slack_or_http() -> None:
    bad = []
    for name, path in sources().items():
        if role(name) in {"rules", "blocks"}:
            third = {m for m in imports(path) if m.split(".")[0] in SLACK_OR_HTTP}
            bad += [f"{name} imports {m}" for m in sorted(third)]
        if role(name) == "blocks":
            bad += [f"{name} imports {m}" for m in imports(path) if m.startswith("sqlalchemy")]
    assert not bad


def test_only_listeners_and_the_composition_root_import_slack_bolt() -> None:
    allowed_root = {"bot.app", "bot.deps", "bot.error_handler", "bot.server", "bot.runtime"}
    allowed_root |= {"bot.bench_bare", "commands"}
    bad = [
        name
        for name, path in sources().items()
        if any(m.split(".")[0] == "slack_bolt" for m in imports(path))
        and not (role(name) == "listeners" or name in allowed_root)
    ]
    assert not bad


def test_no_import_inside_a_function_except_the_command_line() -> None:
    bad = []
    for name, path in sources().items():
        if name == "bot.__main__":
            continue  # the CLI imports a subcommand's modules only when it runs
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        bad.append(f"{name}:{inner.lineno} imports inside {node.name}()")
    assert not bad


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_modules() -> None:
    assert _cycles(first_party_graph()) == []


def test_no_import_cycle_between_packages() -> None:
    def package(module: str) -> str:
        parts = module.split(".")
        if parts[0] == "bot" and len(parts) > 1 and (ROOT / "bot" / parts[1]).is_dir():
            return ".".join(parts[:2])
        return parts[0]

    # Listeners sit on top of their feature and may read the whole launch (bot.launch), so the
    # packages' order is that of everything below them: rules, blocks and flows.
    graph: dict[str, set[str]] = {}
    for name, targets in first_party_graph().items():
        if role(name) == "listeners":
            continue
        mine = package(name)
        graph.setdefault(mine, set()).update(package(t) for t in targets if package(t) != mine)
    # bot.deps and bot.app are the composition root: features may take Deps, the root imports all
    graph.pop("bot", None)
    for targets in graph.values():
        targets.discard("bot")
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
