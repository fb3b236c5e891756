#!/usr/bin/env python3
"""Fails when a source file includes a header of a layer above its own.

Layers (docs/architecture.md): each top-level component may include only the components it
is allowed to depend on; inside node/, each row may include only its own row and the rows
below it. node/ itself holds no source files at its root. Run from anywhere; exit 1 lists
every offending include as file:line.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# component -> components it may include (besides itself).
ALLOWED = {
    "common": set(),
    "bitseq": {"common"},
    "ipam": {"common", "bitseq"},
    "store": {"common", "bitseq", "ipam"},
    "osl": {"common", "ipam"},
    "vxlan": {"common", "ipam", "osl"},
    "gossip": {"common"},
    "overlay": {"common", "bitseq", "ipam", "osl", "store", "vxlan"},
    "node": {"common", "bitseq", "ipam", "store", "osl", "vxlan", "gossip", "overlay"},
}

# node/ rows, bottom first: a row includes only rows at or before its own position.
NODE_ROWS = ["model", "dataplane", "drivers", "cluster", "control", "api", "daemon"]

# Includes that cross a row upwards today, each to be removed by a named change. Keep empty.
KNOWN_EXCEPTIONS = set()

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def node_row(path):
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "node" else None


def violation(source, header):
    src_top, hdr_top = source.split("/")[0], header.split("/")[0]
    if hdr_top not in ALLOWED and hdr_top != "tools":
        return None  # a system or third-party header spelled with quotes
    if src_top in ALLOWED and hdr_top != src_top and hdr_top not in ALLOWED[src_top]:
        return f"{src_top}/ may not include {hdr_top}/"
    if src_top == "node" and hdr_top == "node":
        src_row, hdr_row = node_row(source), node_row(header)
        if src_row is None or hdr_row is None:
            return "node/ files live in a row directory"
        if src_row not in NODE_ROWS or hdr_row not in NODE_ROWS:
            return f"unknown node/ row ({src_row} or {hdr_row}); add it to NODE_ROWS"
        if NODE_ROWS.index(hdr_row) > NODE_ROWS.index(src_row):
            return f"node/{src_row}/ may not include node/{hdr_row}/ (a row above it)"
    return None


def main():
    problems = []
    for top in ALLOWED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix not in (".h", ".cpp"):
                continue
            rel = path.relative_to(ROOT).as_posix()
            if top == "node" and node_row(rel) is None:
                problems.append(f"{rel}: source file at the root of node/; put it in a row")
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m or (rel, m.group(1)) in KNOWN_EXCEPTIONS:
                    continue
                why = violation(rel, m.group(1))
                if why:
                    problems.append(f"{rel}:{number}: includes {m.group(1)}: {why}")
    if problems:
        print("layer check failed:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    print(f"layer check: {len(ALLOWED)} components, {len(NODE_ROWS)} node/ rows clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
