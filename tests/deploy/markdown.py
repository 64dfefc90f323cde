"""Markdown as GitHub renders it, for the link checks: heading anchors and link targets."""

from __future__ import annotations

import re
from pathlib import Path

from tests.deploy import tools

# Where the alerts' runbook_url and other absolute links into the repository point.
HOME = "https://github.com/amistore/amistore-operator"
BLOB = HOME + "/blob/main/"
# A file on main, or the repository's front page (its README) with an anchor.
REPO_URL = re.compile(
    re.escape(HOME) + r"(?:/blob/main/(?P<path>[\w./-]+)|/?(?=#))(?:#(?P<anchor>[\w-]+))?"
)

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(?P<text>.*?)(?:[ \t]+#+)?[ \t]*$")
# A code span may wrap a line, not a paragraph.
_CODE_SPAN = re.compile(r"(`+)(?!`)(?:(?!\n[ \t]*\n).)*?(?<!`)\1(?!`)", re.DOTALL)
_LINK = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation but `-` and `_` dropped."""
    text = _LINK.sub(r"\g<text>", heading)  # a link in a heading renders as its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def prose(text: str) -> str:
    """The text outside fenced code blocks, with each code block's lines left empty."""
    lines = []
    fence = ""
    for line in text.splitlines():
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
            lines.append("")
        elif opened:
            fence = opened.group(1)
            lines.append("")
        else:
            lines.append(line)
    return "\n".join(lines)


def anchors(path: Path) -> set[str]:
    """Every anchor of a markdown file, duplicates numbered `-1`, `-2` as GitHub does."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path.read_text(encoding="utf-8")).splitlines():
        heading = _HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading.group("text"))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    """The targets of a markdown file's inline links, code blocks and code spans left out."""
    text = _CODE_SPAN.sub("code", prose(path.read_text(encoding="utf-8")))
    return [match.group("target") for match in _LINK.finditer(text)]


def problem(source: Path, target: str) -> str | None:
    """Why a relative link of `source` is broken, or None when it resolves (URLs pass)."""
    if _EXTERNAL.match(target):
        return None
    name, _, anchor = target.partition("#")
    resolved = (source.parent / name).resolve() if name else source
    return _check(resolved, anchor)


def blob_problem(path: str, anchor: str | None) -> str | None:
    """Why a URL under BLOB is broken, or None when its file (and heading) exist."""
    return _check((tools.REPO / path).resolve(), anchor or "")


def repo_url_problems(text: str) -> list[str]:
    """Each URL into this repository in `text` that is broken, with why."""
    problems = []
    for url in REPO_URL.finditer(text):
        why = blob_problem(url.group("path") or "README.md", url.group("anchor"))
        if why is not None:
            problems.append(f"{url.group(0)}: {why}")
    return problems


def _check(resolved: Path, anchor: str) -> str | None:
    if not resolved.is_relative_to(tools.REPO):
        return "points outside the repository"
    if not resolved.exists():
        return f"no file {resolved.relative_to(tools.REPO)}"
    if not anchor:
        return None
    if resolved.suffix != ".md":
        return f"an anchor into {resolved.relative_to(tools.REPO)}, which has no headings"
    if anchor not in anchors(resolved):
        return f"no heading for #{anchor} in {resolved.relative_to(tools.REPO)}"
    return None
