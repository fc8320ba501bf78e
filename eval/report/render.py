"""A small document model rendered twice: Markdown (images linked as files) and self-contained HTML
(images embedded as base64 ``data:`` URIs, inline CSS, no scripts, nothing fetched).

A `Doc` is a title and a list of blocks: headings, paragraphs, tables, images, warnings and
preformatted text. Table cells are strings or `Cell`s, which can be marked best (bold / green) and
carry a note (a delta, shown after the value, coloured by whether it is good or bad news).
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Cell:
    text: str
    best: bool = False
    note: str = ""
    tone: str = ""  # "good" | "bad" | "" for the note's colour


@dataclass
class Doc:
    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", level, text))

    def para(self, text: str) -> None:
        self.blocks.append(("para", text))

    def table(self, headers: list[str], rows: list[list[str | Cell]], caption: str = "") -> None:
        self.blocks.append(("table", headers, rows, caption))

    def image(self, path: Path, alt: str) -> None:
        self.blocks.append(("image", Path(path), alt))

    def warnings(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("warnings", list(items)))

    def pre(self, text: str) -> None:
        self.blocks.append(("pre", text))

    # ---- Markdown ----

    def markdown(self, base: Path) -> str:
        """Markdown; image paths are written relative to `base` (the folder the .md goes in)."""
        out = [f"# {self.title}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                out += [f"{'#' * block[1]} {block[2]}", ""]
            elif kind == "para":
                out += [block[1], ""]
            elif kind == "table":
                _, headers, rows, caption = block
                if caption:
                    out += [f"*{caption}*", ""]
                out.append("| " + " | ".join(_md_escape(h) for h in headers) + " |")
                out.append("|" + "|".join("---" for _ in headers) + "|")
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
                out.append("")
            elif kind == "image":
                _, path, alt = block
                out += [f"![{alt}]({_relative(path, base)})", ""]
            elif kind == "warnings":
                out += [f"> **Warning:** {w}" + "  " for w in block[1]] + [""]
            elif kind == "pre":
                out += ["```", block[1], "```", ""]
        return "\n".join(out)

    # ---- HTML ----

    def html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                level = min(block[1], 6)
                body.append(f"<h{level}>{html.escape(block[2])}</h{level}>")
            elif kind == "para":
                body.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "table":
                _, headers, rows, caption = block
                parts = ['<div class="scroll"><table>']
                if caption:
                    parts.append(f"<caption>{html.escape(caption)}</caption>")
                parts.append(
                    "<thead><tr>"
                    + "".join(f"<th>{html.escape(h)}</th>" for h in headers)
                    + "</tr></thead><tbody>"
                )
                parts += ["<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in rows]
                parts.append("</tbody></table></div>")
                body.append("".join(parts))
            elif kind == "image":
                _, path, alt = block
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                body.append(
                    f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(alt)}</figcaption></figure>"
                )
            elif kind == "warnings":
                body += [
                    f'<div class="warning"><strong>Warning:</strong> {html.escape(w)}</div>' for w in block[1]
                ]
            elif kind == "pre":
                body.append(f"<pre>{html.escape(block[1])}</pre>")
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head>"
            f"<body>\n" + "\n".join(body) + "\n</body></html>\n"
        )

    def write(self, folder: Path, stem: str = "report") -> tuple[Path, Path]:
        md, page = folder / f"{stem}.md", folder / f"{stem}.html"
        md.write_text(self.markdown(folder), encoding="utf-8")
        page.write_text(self.html(), encoding="utf-8")
        return md, page


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #ddd;padding-bottom:.3em}
h2{font-size:1.3em;margin-top:1.6em;border-bottom:1px solid #eee}
h3{font-size:1.1em}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
caption{text-align:left;color:#555;font-style:italic;padding-bottom:.3em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right;white-space:nowrap}
th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
td.best{background:#e3f6e3;font-weight:bold}
.note{font-size:.85em;color:#666;margin-left:.3em}
.note.good{color:#1a7f37}
.note.bad{color:#c62828}
.warning{background:#fff4e5;border-left:4px solid #f0a020;padding:.5em .8em;margin:.5em 0}
figure{display:inline-block;margin:.5em 1em .5em 0}
figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em;white-space:pre-wrap}
code{background:#f2f2f2;padding:0 .2em}
"""


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        import os

        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_cell(cell: str | Cell) -> str:
    if isinstance(cell, str):
        return _md_escape(cell)
    text = f"**{_md_escape(cell.text)}**" if cell.best else _md_escape(cell.text)
    return f"{text} ({_md_escape(cell.note)})" if cell.note else text


def _html_cell(cell: str | Cell) -> str:
    if isinstance(cell, str):
        return f"<td>{html.escape(cell)}</td>"
    note = f'<span class="note {cell.tone}">{html.escape(cell.note)}</span>' if cell.note else ""
    cls = ' class="best"' if cell.best else ""
    return f"<td{cls}>{html.escape(cell.text)}{note}</td>"


def _inline(text: str) -> str:
    """HTML for a paragraph: escaped, with `code` spans kept."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def fmt(value, digits: int = 3) -> str:
    """A number for a table: NaN/None as an en dash, integers plainly, else `digits` significant-ish."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):  # an interval
        return "[" + ", ".join(fmt(v, digits) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
