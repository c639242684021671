"""Formatting (and reading back) C arrays, literals and identifiers for the generated sources.

Floats are written with 9 significant digits, which round-trips every
float32 exactly: the C tables hold the very bits of the NumPy tables, and
:func:`read_c_array` lets the tests check that.
"""

from __future__ import annotations

import re

import numpy as np


def c_float(value: float) -> str:
    """A float32 value as a C literal that parses back to the same bits (``1.5f``, ``-2.5e-05f``)."""
    v = np.float32(value)
    if not np.isfinite(v):
        raise ValueError(f"cannot write non-finite float {value!r} as a C constant")
    text = f"{float(v):.9g}"
    if not any(ch in text for ch in ".en"):
        text += ".0"
    return text + "f"


def c_int(value: int) -> str:
    """An integer constant for a ``#define`` (negative values in parentheses)."""
    v = int(value)
    return f"({v})" if v < 0 else str(v)


def c_string(text: str) -> str:
    """A C string literal (UTF-8 bytes; non-printable and non-ASCII bytes as octal escapes)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= byte < 127 and ch != "?":  # '?' escaped to keep clear of trigraphs
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_identifier(text: str) -> str:
    """An upper-case C identifier fragment from arbitrary text."""
    ident = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").upper()
    return ident if ident and not ident[0].isdigit() else "X_" + ident


def format_values(values, kind: str, per_line: int | None = None, indent: str = "    ") -> str:
    """The body of a C initializer list: ``kind`` is ``float``, ``int`` or ``hex`` (bytes)."""
    flat = np.asarray(values).reshape(-1)
    if kind == "float":
        items = [c_float(v) for v in flat]
        per_line = per_line or 6
    elif kind == "hex":
        items = [f"0x{int(v):02x}" for v in flat.astype(np.uint8)]
        per_line = per_line or 16
    elif kind == "int":
        items = [str(int(v)) for v in flat]
        per_line = per_line or 16
    else:  # pragma: no cover - programming error
        raise ValueError(kind)
    lines = [indent + ", ".join(items[i : i + per_line]) + "," for i in range(0, len(items), per_line)]
    return "\n".join(lines)


def c_array(declaration: str, values, kind: str, per_line: int | None = None) -> str:
    """``declaration = { ... };`` for a one-dimensional array."""
    body = format_values(values, kind, per_line)
    return f"{declaration} = {{\n{body}\n}};\n"


def c_array_2d(declaration: str, rows, kind: str, per_line: int | None = None) -> str:
    """``declaration = { {...}, {...} };`` for a two-dimensional array (one row per window)."""
    parts = []
    for row in rows:
        parts.append("  {\n" + format_values(row, kind, per_line, indent="    ") + "\n  },")
    return f"{declaration} = {{\n" + "\n".join(parts) + "\n};\n"


_NUMBER = re.compile(r"[-+]?(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)[fFuUlL]*")


def read_c_array(source: str, name: str, dtype) -> np.ndarray:
    """The values of the array ``name`` in generated C ``source`` (flattened), parsed as ``dtype``.

    Floats go through Python ``float`` then ``dtype``: a ``%.9g`` literal of a
    float32 comes back to the same bits.
    """
    match = re.search(rf"\b{re.escape(name)}\s*(?:\[[^\]]*\]\s*)*=\s*\{{", source)
    if not match:
        raise KeyError(f"array {name} not found")
    depth, i = 1, match.end()
    while depth:
        ch = source[i]
        depth += ch == "{"
        depth -= ch == "}"
        i += 1
    body = re.sub(r"/\*.*?\*/", " ", source[match.end() : i - 1], flags=re.S)
    tokens = _NUMBER.findall(body)
    values = []
    for tok in tokens:
        if tok.lower().lstrip("+-").startswith("0x"):
            values.append(int(tok.rstrip("uUlL"), 16))  # f/F are hex digits here, not suffixes
        else:
            values.append(float(tok.rstrip("fFuUlL")))
    return np.array(values, dtype=np.float64 if np.dtype(dtype).kind == "f" else np.int64).astype(dtype)


def read_c_define(source: str, name: str) -> str:
    """The text of ``#define name value`` in ``source``."""
    match = re.search(rf"^#define\s+{re.escape(name)}\s+(.+?)\s*(?:/\*.*)?$", source, flags=re.M)
    if not match:
        raise KeyError(f"#define {name} not found")
    return match.group(1).strip()
