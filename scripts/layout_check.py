#!/usr/bin/env python3
"""Checks two rules of the source layout (ARCHITECTURE.md, "Layout rules").

1. No source file under crates/*/src is longer than MAX_LINES lines (unit tests included).
2. No two source files of a crate import each other: when a.rs names an item of b.rs
   (`use crate::b::…`, `super::…`, a child module's path, or an item that lib.rs / mod.rs
   re-exports from b), b.rs must not name an item of a.rs.

Usage: scripts/layout_check.py [REPO]   (exits 1 and lists every breach)
"""

import os
import re
import sys

MAX_LINES = 700

ITEM = re.compile(
    r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+|unsafe\s+|const\s+)*"
    r"(?:struct|enum|fn|trait|type|const|static|union|macro_rules!)\s+([A-Za-z_][A-Za-z0-9_]*)",
    re.M,
)
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)
PATH = re.compile(r"\b((?:crate|super|self|[a-z_][a-z0-9_]*)(?:\s*::\s*(?:[A-Za-z_][A-Za-z0-9_]*|\{[^;]*?\}))+)", re.S)
USE = re.compile(r"\buse\s+([^;]+);", re.S)


def strip_comments_and_strings(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


def without_test_module(text):
    """The file without its trailing `#[cfg(test)] mod …` block."""
    match = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod\s+\w+\s*\{", text, re.M)
    return text[: match.start()] if match else text


class Module:
    def __init__(self, path, segments):
        self.path = path  # file path
        self.segments = segments  # module path inside the crate, () for the root
        raw = open(path, encoding="utf-8").read()
        self.lines = len(raw.splitlines())
        self.code = strip_comments_and_strings(without_test_module(raw))
        self.items = set(ITEM.findall(self.code))
        self.children = set(MOD_DECL.findall(self.code))
        # `pub use a::b::Item;` and `pub use a::b::{X, Y};` re-exports: name -> path segments
        self.reexports = {}
        for use in USE.findall(self.code):
            for full in expand_use(use):
                if full and full[-1] not in ("self", "*"):
                    self.reexports.setdefault(full[-1], full)


def expand_use(tree):
    """Flattens a use tree `a::{b, c::{d, e as f}}` into lists of segments."""
    tree = re.sub(r"\s+", "", tree)
    tree = re.sub(r"\bas\w+", "", tree.replace(" as ", " as"))
    out = []

    def walk(prefix, text):
        depth = 0
        start = 0
        parts = []
        for i, ch in enumerate(text):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(text[start:i])
                start = i + 1
        parts.append(text[start:])
        for part in parts:
            if not part:
                continue
            brace = part.find("{")
            if brace >= 0 and part.endswith("}"):
                head = [s for s in part[:brace].split("::") if s]
                walk(prefix + head, part[brace + 1 : -1])
            else:
                out.append(prefix + [s for s in part.split("::") if s])

    walk([], tree)
    return out


def crate_modules(src):
    modules = {}

    def visit(path, segments):
        module = Module(path, segments)
        modules[segments] = module
        folder = os.path.dirname(path) if os.path.basename(path) in ("lib.rs", "main.rs", "mod.rs") else path[:-3]
        for child in sorted(module.children):
            for candidate in (os.path.join(folder, child + ".rs"), os.path.join(folder, child, "mod.rs")):
                if os.path.isfile(candidate):
                    visit(candidate, segments + (child,))
                    break

    for root in ("lib.rs", "main.rs"):
        if os.path.isfile(os.path.join(src, root)):
            visit(os.path.join(src, root), ())
    return modules


def resolve(modules, here, segments, depth=0):
    """The module (file) that defines the item a path names, or None when it is not ours."""
    if depth > 8 or not segments:
        return None
    first = segments[0]
    if first == "crate":
        base, rest = (), segments[1:]
    elif first == "super":
        base, rest = here[:-1], segments[1:]
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif first == "self":
        base, rest = here, segments[1:]
    elif here + (first,) in modules:
        base, rest = here, segments
    else:
        return None  # another crate, std, or a local binding
    # Walk down the module tree as far as the path names modules.
    while rest and base + (rest[0],) in modules:
        base, rest = base + (rest[0],), rest[1:]
    module = modules.get(base)
    if module is None:
        return None
    if not rest:
        return base
    name = rest[0]
    if name in module.items:
        return base
    if name in module.reexports:
        target = resolve(modules, base, module.reexports[name], depth + 1)
        if target is not None:
            return target
    return base


PUB_USE = re.compile(r"\bpub(?:\([^)]*\))?\s+use\s+[^;]+;", re.S)


def edges_of(modules):
    """Which files each file imports from. A `pub use` is a re-export (the module's table of
    contents), not an import: it is followed when resolving, not counted as an edge."""
    edges = {}
    for segments, module in modules.items():
        code = PUB_USE.sub("", module.code)
        paths = []
        for use in USE.findall(code):
            paths.extend(expand_use(use))
        for match in PATH.findall(USE.sub("", code)):
            if "{" in match:
                paths.extend(expand_use(match))
            else:
                paths.append([s for s in re.sub(r"\s+", "", match).split("::") if s])
        targets = set()
        for path in paths:
            target = resolve(modules, segments, path)
            if target is not None and target != segments:
                targets.add(target)
        edges[segments] = targets
    return edges


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    breaches = []
    crates = os.path.join(repo, "crates")
    for crate in sorted(os.listdir(crates)):
        src = os.path.join(crates, crate, "src")
        if not os.path.isdir(src):
            continue
        modules = crate_modules(src)
        for module in modules.values():
            if module.lines > MAX_LINES:
                breaches.append(f"{os.path.relpath(module.path, repo)}: {module.lines} lines (at most {MAX_LINES})")
        edges = edges_of(modules)
        for a, targets in edges.items():
            for b in targets:
                if a < b and a in edges.get(b, set()):
                    pa = os.path.relpath(modules[a].path, repo)
                    pb = os.path.relpath(modules[b].path, repo)
                    breaches.append(f"{pa} and {pb} import each other")
    for breach in breaches:
        print(breach)
    if breaches:
        sys.exit(1)
    print("layout: every source file within", MAX_LINES, "lines, no two files importing each other")


if __name__ == "__main__":
    main()
