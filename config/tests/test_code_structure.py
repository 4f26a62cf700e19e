"""The code's shape (README "Architecture"): no import cycles, no imports hidden in
functions, row locks only through the ``locks`` modules, tasks enqueued by name exist.

These read the source (``ast``), so they see what a reader sees — an import inside a
function counts like one at the top.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "accounts", "chat", "config", "control_center", "extensions", "failed_pairings", "live_settings", "metrics",
    "pairing", "payments", "privacy", "realtime", "safety", "ops",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _source_modules() -> dict[str, Path]:
    """Every module of the project's own code: not tests, not migrations."""
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts:
                continue
            found[_module_name(path)] = path
    return found


MODULES = _source_modules()


def _owner(name: str) -> str | None:
    """The project module ``name`` refers to (``a.b.c`` → ``a.b`` when ``c`` is a name in it)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path):
    """(imported project module, line, the function it is in or None) for every import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if (target := _owner(alias.name)) and target != module:
                        yield target, child.lineno, function
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([child.module] if child.module else []))
                for alias in child.names:
                    if (target := _owner(f"{base}.{alias.name}")) and target != module:
                        yield target, child.lineno, function
            yield from visit(child, inner)

    yield from visit(tree, None)


def _graph() -> dict[str, set[str]]:
    return {module: {target for target, _, _ in _imports(module, path)} for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = iter(range(10**9))

    def connect(node):
        index[node] = low[node] = next(counter)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_walker_sees_imports_at_the_top_and_inside_functions():
    # given: what the walker reads of a module known to import both ways
    imports = list(_imports("extensions.apps", MODULES["extensions.apps"]))
    deadlines = list(_imports("pairing.deadlines", MODULES["pairing.deadlines"]))

    # then
    assert ("extensions.services", "ready") in [(t, f) for t, _, f in imports]
    assert ("pairing.attempts", None) in [(t, f) for t, _, f in deadlines]


def test_cycle_finder_finds_a_cycle_through_a_function_level_import():
    # given: a → b at the top, b → c, c → a inside a function (as the walker reports it)
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    # then
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules():
    # a function-level import counts as much as one at the top: hiding a cycle in a
    # function only moves the failure to the first call
    cycles = _cycles(_graph())

    assert cycles == [], "import cycles (each list imports itself round): " + "; ".join(" ↔ ".join(c) for c in cycles)


def test_project_modules_are_imported_at_the_top_of_modules():
    # the exceptions: ``AppConfig.ready`` (Django's place for wiring once apps are
    # loaded) and ops/ (command-line tools that set Django up first)
    hidden = [
        f"{path.relative_to(ROOT)}:{line} imports {target} inside {function}()"
        for module, path in MODULES.items()
        if not module.startswith("ops.")
        for target, line, function in _imports(module, path)
        if function is not None and function != "ready"
    ]

    assert hidden == []


def test_rows_are_locked_only_through_the_locks_modules():
    # one lock order (config/locks.py) holds only if every lock is taken in one place per app
    ad_hoc = [
        f"{path.relative_to(ROOT)}:{number}"
        for module, path in MODULES.items()
        if path.name != "locks.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "select_for_update(" in line and not line.lstrip().startswith("#")
    ]

    assert ad_hoc == []


TASK_NAME = re.compile(r"""(?:send_task\(\s*|task_after_commit\(\s*|_TASK\s*=\s*)["']([\w.]+)["']""")


def test_every_task_enqueued_by_name_is_registered():
    # given: the names services enqueue without importing the task (config.on_commit),
    # the ones sent by hand, and beat's
    from config.celery import app

    app.loader.import_default_modules()
    named = {
        (name, str(path.relative_to(ROOT))) for module, path in MODULES.items() for name in TASK_NAME.findall(path.read_text())
    }
    named |= {(entry["task"], "CELERY_BEAT_SCHEDULE") for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    # then
    assert len(named) >= 8
    unknown = sorted((name, where) for name, where in named if name not in app.tasks)
    assert unknown == []


def test_pairing_reads_in_the_words_of_the_spec():
    # offers, attempts, answers, returning, lifecycle, deadlines (SPEC §5, §10); no catch-all module
    modules = {path.stem for path in (ROOT / "pairing").glob("*.py")}

    assert {"offers", "attempts", "answers", "deadlines", "timers", "returning", "lifecycle", "locks"} <= modules
    assert "services" not in modules
