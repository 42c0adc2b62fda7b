"""A report as a list of blocks, written out as Markdown or as one self-contained HTML file.

The report's content is built once (`reports.sections`) as blocks; the two writers only format.
HTML embeds every image as a base64 data URI, so `report.html` opens offline, from an e-mail,
or from MLflow's artifact view without the PNGs beside it.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Image:
    """A PNG written beside the report; `caption` says how to read it."""

    file: str
    alt: str
    caption: str = ""


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Heading | Paragraph | Bullets | Image | Table


def to_markdown(blocks: list[Block]) -> str:
    """GitHub-flavoured Markdown; images are referenced by file name (the PNGs sit beside it)."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Paragraph):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Image):
            out.append(f"![{b.alt}]({b.file})" + (f"\n\n*{b.caption}*" if b.caption else ""))
        elif isinstance(b, Table):
            cells = [[c.replace("|", "\\|") for c in row] for row in (b.header, *b.rows)]
            lines = ["| " + " | ".join(row) + " |" for row in cells]
            lines.insert(1, "|" + "---|" * len(b.header))
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { margin-top: 2em; border-bottom: 1px solid #eee; padding-bottom: .2em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .92em; margin-top: .4em; }
table { border-collapse: collapse; font-size: .9em; margin: 1em 0; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: left; }
th { background: #f5f5f5; }
tr:nth-child(even) td { background: #fafafa; }
"""


def to_html(blocks: list[Block], title: str, image_dir: Path) -> str:
    """One HTML5 page with the PNGs from `image_dir` embedded as data URIs."""
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            body.append(f"<p>{html.escape(b.text)}</p>")
        elif isinstance(b, Bullets):
            items = "".join(f"<li>{html.escape(i)}</li>" for i in b.items)
            body.append(f"<ul>{items}</ul>")
        elif isinstance(b, Image):
            data = base64.b64encode((image_dir / b.file).read_bytes()).decode("ascii")
            caption = f"<figcaption>{html.escape(b.caption)}</figcaption>" if b.caption else ""
            body.append(
                f'<figure><img src="data:image/png;base64,{data}" '
                f'alt="{html.escape(b.alt)}">{caption}</figure>'
            )
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(c)}</th>" for c in b.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in b.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
