"""A small Markdown-to-HTML converter for the Markdown the report writes (so no dependency is needed).

Handles: ``#`` headings, ``- `` lists, pipe tables, fenced code blocks, ``![alt](src)`` images,
paragraphs, and inline ``**bold**`` and ```code```. Everything else is escaped text.
"""
from __future__ import annotations

import html
import re

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}td.num{text-align:right}img{max-width:100%}
pre{background:#f6f6f6;padding:1em;overflow:auto}"""


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


# a cell that is a number (with a ± spread, a † or a bold best): right-aligned; text stays left-aligned
_NUMBER = re.compile(r"^(\*\*)?[-+−]?(\d+(\.\d*)?|\.\d+|nan|inf|–)( ± \d+(\.\d*)?)?(\*\*)?( †)?$")


def _td(cell: str) -> str:
    return f'<td class="num">{_inline(cell)}</td>' if _NUMBER.match(cell) else f"<td>{_inline(cell)}</td>"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_to_html(text: str, title: str = "tipsd report") -> str:
    """Convert the report's Markdown to a standalone HTML page.

    Example:
        >>> "<h1>Hi</h1>" in markdown_to_html("# Hi")
        True
    """
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre>" + html.escape("\n".join(lines[i + 1:j])) + "</pre>")
            i = j + 1
            continue
        m = re.match(r"^(#{1,6}) (.*)$", line)
        if m:
            n = len(m.group(1))
            out.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
        elif line.startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            rows = [_cells(r) for r in lines[i:j] if not re.match(r"^\|( *-+ *\|)+$", r.replace(":", ""))]
            head, body = rows[0], rows[1:]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead><tbody>")
            out += ["<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in body]
            out.append("</tbody></table>")
            i = j
            continue
        elif line.startswith("- "):
            j = i
            while j < len(lines) and lines[j].startswith("- "):
                j += 1
            out.append("<ul>" + "".join(f"<li>{_inline(r[2:])}</li>" for r in lines[i:j]) + "</ul>")
            i = j
            continue
        elif m := re.match(r"^!\[(.*)\]\((.*)\)$", line):
            out.append(f'<p><img alt="{html.escape(m.group(1))}" src="{html.escape(m.group(2))}"></p>')
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    body = "\n".join(out)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")
