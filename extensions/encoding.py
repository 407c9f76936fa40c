"""Jinja filters that write a free-text answer into the file it lands in, and the check that
refuses what no file can hold.

A free-text answer (project name, description, author) is one line of any printable text:
quotes, backslashes, `{{`, `#`, `$`, non-ASCII letters and emoji included. Templates never put
one in a file as it is; they pass it through the filter for that file's syntax, so the value
reads back unchanged and the file still parses:

    python_string   a Python string literal, as `ruff format` writes it, wrapped in
                    parentheses and split when it does not fit the line (pass the column
                    the literal starts at and the line's indent)
    toml_string     a TOML basic string
    markdown_text   Markdown text that renders as the answer, not as markup
    comment_text    the answer as the text of a one-line comment

Every filter drops surrounding whitespace, which no file keeps well (trailing spaces, a
Markdown line starting with four). `control_characters` names what no one-line answer may hold:
line breaks and other control characters, used by the questions' validators in copier.yml.
"""

from __future__ import annotations

import re
import unicodedata

from jinja2 import Environment
from jinja2.ext import Extension

# As the generated project's ruff configuration ([tool.ruff] line-length).
LINE_LENGTH = 100

# Unicode categories a one-line answer cannot hold: control characters (line feed, tab,
# escape...), the line and paragraph separators, and surrogates (bytes that were not UTF-8).
REFUSED_CATEGORIES = {"Cc", "Zl", "Zp", "Cs"}
CHARACTER_NAMES = {
    "\n": "a line break",
    "\r": "a carriage return",
    "\t": "a tab",
    "\u2028": "a line separator",
    "\u2029": "a paragraph separator",
}
SURROGATE = "a byte that is not UTF-8"


def control_characters(value: str) -> str:
    """The characters no one-line answer may hold, described for a sentence ("" if none)."""
    found = dict.fromkeys(ch for ch in value if unicodedata.category(ch) in REFUSED_CATEGORIES)
    return ", ".join(f"{_describe(ch)} (U+{ord(ch):04X})" for ch in found)


def _describe(ch: str) -> str:
    if unicodedata.category(ch) == "Cs":
        return SURROGATE
    return CHARACTER_NAMES.get(ch, "a control character")


PYTHON_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _python_char(ch: str, quote: str) -> str:
    if ch in {"\\", quote}:
        return "\\" + ch
    if " " <= ch <= "~":
        return ch
    if ch in PYTHON_ESCAPES:
        return PYTHON_ESCAPES[ch]
    # Accented Latin letters stay as they are ("Crème"); any other non-ASCII character is
    # escaped, so ruff's RUF001 never sees a character that looks like an ASCII one (a curly
    # apostrophe).
    decomposed = unicodedata.normalize("NFD", ch)
    if (
        len(decomposed) > 1
        and decomposed[0].isascii()
        and decomposed[0].isalpha()
        and all(unicodedata.category(mark) == "Mn" for mark in decomposed[1:])
    ):
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _python_literal(text: str) -> str:
    # ruff format's choice: double quotes, unless single quotes need fewer escapes.
    quote = "'" if text.count('"') > text.count("'") else '"'
    return quote + "".join(_python_char(ch, quote) for ch in text) + quote


def _python_chunks(text: str, width: int) -> list[str]:
    """Split `text` so that each part's literal is at most `width` long, at spaces where it can."""
    chunks: list[str] = []
    current = ""
    for word in re.findall(r"\S+\s*|\s+", text):
        if len(_python_literal(current + word)) <= width:
            current += word
            continue
        if current:
            chunks.append(current)
            current = ""
        for ch in word:
            if current and len(_python_literal(current + ch)) > width:
                chunks.append(current)
                current = ""
            current += ch
    if current or not chunks:
        chunks.append(current)
    return chunks


def python_string(value: str, column: int = 0, indent: int = 0) -> str:
    """A Python string literal holding the answer, formatted as `ruff format` leaves it.

    `column` is where the literal starts on its line, `indent` that line's indentation. A
    literal that does not fit goes on its own lines in parentheses, split into parts that do.
    """
    text = value.strip()
    literal = _python_literal(text)
    if column + len(literal) <= LINE_LENGTH:
        return literal
    inner = " " * (indent + 4)
    parts = _python_chunks(text, LINE_LENGTH - len(inner))
    lines = "".join(f"{inner}{_python_literal(part)}\n" for part in parts)
    return f"(\n{lines}{' ' * indent})"


TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(value: str) -> str:
    """A TOML basic string ("...") holding the answer."""
    out = []
    for ch in value.strip():
        if ch in TOML_ESCAPES:
            out.append(TOML_ESCAPES[ch])
        elif unicodedata.category(ch) == "Cc":
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# Characters that are markup anywhere in CommonMark or GitHub's Markdown: escapes, code spans,
# emphasis, links and images, HTML and autolinks, headings and their closing #s, block quotes,
# strikethrough and math.
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#~$])")
# A named entity (&amp;) would render as the character it names; a numeric one (&#169;) is
# already defused by its escaped #.
MARKDOWN_ENTITY = re.compile(r"&(?=[A-Za-z0-9]+;)")


def markdown_text(value: str) -> str:
    """The answer as Markdown text that renders as itself, wherever on a line it starts."""
    text = MARKDOWN_SPECIAL.sub(r"\\\1", value.strip())
    text = MARKDOWN_ENTITY.sub(r"\\&", text)
    # Markup only at the start of a line: an ordered or bulleted list item, a setext underline.
    text = re.sub(r"^(\d+)([.)])", r"\1\\\2", text)
    return re.sub(r"^([-+=])", r"\\\1", text)


def comment_text(value: str) -> str:
    """The answer as the text of a comment line (#, //, ...): the validators keep it one line,
    and a comment holds any other character as it is."""
    return value.strip()


class EncodingFilters(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["control_characters"] = control_characters
        environment.filters["python_string"] = python_string
        environment.filters["toml_string"] = toml_string
        environment.filters["markdown_text"] = markdown_text
        environment.filters["comment_text"] = comment_text
