"""HTML building blocks that mail clients render alike: tables and inline styles only.

Mail clients drop ``<style>`` blocks, external CSS, scripts and web fonts (Gmail, Outlook's
Word engine), so every element carries its own ``style``, the layout is nested tables of a
fixed 640-pixel width, and the fonts are the ones every machine has. Every argument is
plain text and is escaped here, except where a name says ``html``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

FONT = "Arial, Helvetica, sans-serif"
MONO = "Consolas, 'Courier New', monospace"
WIDTH = 640
INK, MUTED, RULE, PAPER, PANEL = "#1f2933", "#616e7c", "#d9e2ec", "#f0f4f8", "#ffffff"
LINK = "#1f6feb"
#: The two sides of every comparison, in the table cells and the charts alike.
REFERENCE_COLOUR, CURRENT_COLOUR = "#7f8c8d", "#e74c3c"


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(title: str, body_html: str) -> str:
    """A whole document: a grey background and one white 640-pixel column."""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title></head>"
        f"<body style='margin:0;padding:0;background:{PAPER};'>"
        f"<table role='presentation' width='100%' cellpadding='0' cellspacing='0' border='0' "
        f"style='background:{PAPER};'><tr><td align='center' style='padding:16px 8px;'>"
        f"<table role='presentation' width='{WIDTH}' cellpadding='0' cellspacing='0' border='0' "
        f"style='width:{WIDTH}px;max-width:100%;background:{PANEL};border:1px solid {RULE};"
        f"font-family:{FONT};color:{INK};font-size:14px;line-height:1.45;'>"
        f"{body_html}</table></td></tr></table></body></html>"
    )


def block(inner_html: str, *, padding: str = "16px 24px", background: str = PANEL) -> str:
    """One full-width row of the column."""
    return f"<tr><td style='padding:{padding};background:{background};'>{inner_html}</td></tr>"


def heading(text: str) -> str:
    return (
        f"<h2 style='margin:0 0 8px 0;font-family:{FONT};font-size:17px;color:{INK};'>"
        f"{esc(text)}</h2>"
    )


def subheading(text: str) -> str:
    return (
        f"<h3 style='margin:14px 0 4px 0;font-family:{FONT};font-size:15px;color:{INK};'>"
        f"{esc(text)}</h3>"
    )


def paragraph(text: str, *, muted: bool = False, small: bool = False) -> str:
    colour = MUTED if muted else INK
    size = "12px" if small else "14px"
    return f"<p style='margin:4px 0;color:{colour};font-size:{size};'>{esc(text)}</p>"


def bullets(items: Sequence[str]) -> str:
    if not items:
        return ""
    lis = "".join(f"<li style='margin:2px 0;'>{esc(item)}</li>" for item in items)
    return f"<ul style='margin:4px 0 4px 0;padding-left:20px;'>{lis}</ul>"


def code(text: str) -> str:
    return (
        f"<div style='margin:4px 0;padding:6px 8px;background:{PAPER};border:1px solid {RULE};"
        f"font-family:{MONO};font-size:13px;color:{INK};word-break:break-all;'>{esc(text)}</div>"
    )


def badge(text: str, background: str, colour: str) -> str:
    return (
        f"<span style='display:inline-block;padding:3px 10px;border-radius:3px;"
        f"background:{background};color:{colour};font-weight:bold;font-size:12px;"
        f"text-transform:uppercase;letter-spacing:1px;'>{esc(text)}</span>"
    )


def button(url: str, text: str) -> str:
    return (
        f"<table role='presentation' cellpadding='0' cellspacing='0' border='0' "
        f"style='margin:6px 0;'><tr><td style='background:{LINK};border-radius:3px;'>"
        f"<a href='{esc(url)}' style='display:inline-block;padding:8px 16px;color:#ffffff;"
        f"font-family:{FONT};font-size:14px;font-weight:bold;text-decoration:none;'>"
        f"{esc(text)}</a></td></tr></table>"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric_from: int = 1) -> str:
    """A bordered data table; columns from ``numeric_from`` on are right-aligned."""

    def cell(tag: str, value: str, column: int) -> str:
        align = "right" if column >= numeric_from else "left"
        weight = "bold" if tag == "th" else "normal"
        return (
            f"<{tag} style='padding:4px 8px;border-bottom:1px solid {RULE};text-align:{align};"
            f"font-weight:{weight};font-size:13px;white-space:nowrap;'>{esc(value)}</{tag}>"
        )

    head = "".join(cell("th", h, i) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", v, i) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return (
        "<table role='presentation' cellpadding='0' cellspacing='0' border='0' "
        f"style='border-collapse:collapse;margin:6px 0;'><tr style='background:{PAPER};'>"
        f"{head}</tr>{body}</table>"
    )


def bar(share: float, colour: str, width: int = 120) -> str:
    """A horizontal bar of ``share`` (0..1) of ``width`` pixels, as a one-cell table."""
    pixels = max(1, round(width * min(max(share, 0.0), 1.0))) if share > 0 else 0
    if not pixels:
        return ""
    return (
        f"<table role='presentation' cellpadding='0' cellspacing='0' border='0'><tr>"
        f"<td width='{pixels}' height='8' style='width:{pixels}px;height:8px;background:{colour};"
        "font-size:0;line-height:0;'>&nbsp;</td></tr></table>"
    )


def image(cid: str, alt: str, width: int = 592) -> str:
    """An inline image from the message's related parts (``cid:``)."""
    return (
        f"<img src='cid:{esc(cid)}' alt='{esc(alt)}' width='{width}' "
        f"style='display:block;width:{width}px;max-width:100%;height:auto;border:0;margin:6px 0;'>"
    )
