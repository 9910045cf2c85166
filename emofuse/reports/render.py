"""One renderer for every document emofuse writes: run summaries and reports.

A document is a list of blocks (headings, paragraphs, tables, images); :func:`render_markdown`
writes Markdown (pipe tables with their caption above, figures below) and :func:`render_html`
one self-contained HTML file (figures inlined).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import pathlib
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd


@dataclasses.dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclasses.dataclass(frozen=True)
class Paragraph:
    text: str


@dataclasses.dataclass(frozen=True)
class Table:
    """A table with its caption; ``number`` ``None`` for an unnumbered table."""

    frame: pd.DataFrame
    caption: str
    number: int | None = None


@dataclasses.dataclass(frozen=True)
class Image:
    path: pathlib.Path  # relative to the report's directory
    caption: str
    number: int


Block = Heading | Paragraph | Table | Image


def render_markdown(blocks: Sequence[Block]) -> str:
    """Markdown: headings, paragraphs, pipe tables with their caption above, figures below."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Table):
            if block.caption:
                lines += [f"**Table {block.number}.** {block.caption}" if block.number is not None else block.caption, ""]
            header = [str(c) for c in block.frame.columns]
            lines.append("| " + " | ".join(_cell(c) for c in header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            for row in block.frame.itertuples(index=False):
                lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
            lines.append("")
        else:
            lines += [f"![{_plain(block.caption)}]({block.path.as_posix()})", "", f"*Figure {block.number}.* {block.caption}", ""]
    return "\n".join(lines)


def render_html(blocks: Sequence[Block], *, title: str, base: pathlib.Path) -> str:
    """One HTML file with the figures inlined as base64 PNGs (self-contained)."""
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline(str(c))}</th>" for c in block.frame.columns)
            rows = "".join("<tr>" + "".join(f"<td>{_inline(str(v))}</td>" for v in row) + "</tr>"
                           for row in block.frame.itertuples(index=False))
            number = f"<b>Table {block.number}.</b> " if block.number is not None else ""
            body.append(f"<table><caption>{number}{_inline(block.caption)}</caption>"
                        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            data = base64.b64encode((base / block.path).read_bytes()).decode("ascii")
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(_plain(block.caption))}">'
                        f"<figcaption><b>Figure {block.number}.</b> {_inline(block.caption)}</figcaption></figure>")
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.92em}caption{text-align:left;padding:0.3em 0}"
             "th,td{border:1px solid #bbb;padding:0.25em 0.6em;text-align:left}th{background:#eee}"
             "figure{margin:1.5em 0}img{max-width:100%}code{background:#f3f3f3;padding:0 0.2em}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _plain(text: str) -> str:
    return re.sub(r"[*`]", "", text)


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    return re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", text)
