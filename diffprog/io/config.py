"""TOML files checked against a schema: the generic half of a scene file.

A schema maps section names to ``{key: Field}``. ``load_config(path, schema, overrides)`` parses the
file with ``tomllib``, checks every key's type and range, fills in defaults and raises a one-line
error naming the key, the file and the line for anything wrong (``SceneError``, a ValueError;
``SceneTypeError``, also a TypeError, for a value of the wrong type). What the keys mean is the
business of the schema's owner (``diffprog.fit.scene`` for ``diffprog fit``).
"""
import dataclasses
import os
import re
import tomllib

import numpy as np


class SceneError(ValueError):
    """A scene file has an unknown key, a bad value or an inconsistent camera."""


class SceneTypeError(SceneError, TypeError):
    """A scene key has a value of the wrong type."""


@dataclasses.dataclass(frozen=True)
class Field:
    """One key: ``kind`` (int, float, str, bool, floats, ints, strs, matrix, table-list),
    ``default`` (``REQUIRED`` if it must be given), allowed ``choices``, ``length`` for lists and a
    ``check(value) -> message or None`` for the value range."""
    kind: str
    default: object
    doc: str
    choices: tuple = ()
    length: int = None
    check: object = None


REQUIRED = object()


def positive(v):
    return None if v > 0 else "expected a positive number"


def non_negative(v):
    return None if v >= 0 else "expected a number >= 0"


def fractions(v):
    return None if all(0 < x < 1 for x in v) else "expected fractions of the run strictly between 0 and 1"


class Locator:
    """Line numbers of keys in a TOML text (for error messages; tomllib does not keep positions)."""

    def __init__(self, path, text):
        self.path = path
        self.lines = text.splitlines()

    def line(self, section, key=None, table_index=None):
        current, count = None, -1
        for number, raw in enumerate(self.lines, 1):
            line = raw.split("#", 1)[0].strip()
            header = re.fullmatch(r"\[\[\s*([^\]]+?)\s*\]\]|\[\s*([^\]]+?)\s*\]", line)
            if header:
                current = (header.group(1) or header.group(2)).replace(" ", "")
                if current == section and header.group(1):
                    count += 1
                if key is None and current == section and (table_index is None or count == table_index):
                    return number
                continue
            if key is not None and current == section and (table_index is None or count == table_index):
                if re.match(rf"\s*{re.escape(key)}\s*=", line):
                    return number
            if key is not None and current is None and re.match(rf"\s*{re.escape(section)}\.{re.escape(key)}\s*=",
                                                                line):
                return number
        if key is None:                          # [section.sub] tables, or top-level section = / section.key =
            current = None
            for number, raw in enumerate(self.lines, 1):
                line = raw.split("#", 1)[0].strip()
                header = re.fullmatch(r"\[\[\s*([^\]]+?)\s*\]\]|\[\s*([^\]]+?)\s*\]", line)
                if header:
                    current = (header.group(1) or header.group(2)).replace(" ", "")
                    if current.split(".")[0] == section:
                        return number
                elif current is None and re.match(rf"{re.escape(section)}\s*[.=]", line):
                    return number
        return None

    def where(self, section, key=None, table_index=None):
        number = self.line(section, key, table_index)
        return f"{self.path}, line {number}" if number else f"{self.path}"


def _kind_name(field):
    return {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
            "floats": "a list of numbers", "ints": "a list of integers", "strs": "a list of strings",
            "matrix": "a 4x4 list of lists of numbers", "table-list": "[[...]] tables"}[field.kind]


def _number(x):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError
    return float(x)


def convert(field, value):
    """``value`` converted to the field's kind, or raise TypeError with what was expected."""
    kind = field.kind
    try:
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
            return value
        if kind == "float":
            return _number(value)
        if kind in ("str", "bool"):
            if not isinstance(value, str if kind == "str" else bool):
                raise TypeError
            return value
        if kind in ("floats", "ints", "strs"):
            if not isinstance(value, list):
                raise TypeError
            if kind == "floats":
                return [_number(x) for x in value]
            if kind == "ints" and any(isinstance(x, bool) or not isinstance(x, int) for x in value):
                raise TypeError
            if kind == "strs" and any(not isinstance(x, str) for x in value):
                raise TypeError
            return list(value)
        if kind == "matrix":
            if not (isinstance(value, list) and len(value) == 4
                    and all(isinstance(row, list) and len(row) == 4 for row in value)):
                raise TypeError
            return np.array([[_number(x) for x in row] for row in value])
        if kind == "table-list":
            if not isinstance(value, list) or any(not isinstance(x, dict) for x in value):
                raise TypeError
            return value
    except TypeError:
        raise TypeError(f"expected {_kind_name(field)}, got {show(value)}") from None
    raise AssertionError(kind)


def show(value):
    """A short repr of ``value`` for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_value(field, value):
    """A message if ``value`` (already converted) is out of range, else None."""
    if value is None:
        return None
    if field.choices:
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if v not in field.choices]
        if bad:
            return f"got {bad[0]!r}, expected one of {', '.join(repr(c) for c in field.choices)}"
    if field.length is not None and len(value) != field.length:
        return f"expected {field.length} values, got {len(value)}"
    if field.kind in ("float", "floats", "matrix"):
        array = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(array)):
            if field.kind == "matrix":
                return "camera matrix contains non-finite values (NaN or inf); expected finite numbers"
            return f"expected finite numbers, got {show(value.tolist() if hasattr(value, 'tolist') else value)}"
    if field.check is not None:
        message = field.check(value)
        if message:
            return f"{message}, got {show(value)}"
    return None


def validated(field, value, where, name):
    """``value`` converted and range-checked, or SceneTypeError / SceneError ``"{where}: {name}: ..."``."""
    try:
        value = convert(field, value)
    except TypeError as error:
        raise SceneTypeError(f"{where}: {name}: {error}") from None
    message = _check_value(field, value)
    if message:
        raise SceneError(f"{where}: {name}: {message}")
    return value


def parse_override(text):
    """``"render.sigma=1e-5"`` -> ``("render.sigma", 1e-5)``: the value is read as TOML (strings may be
    given bare). Raises SceneError for text without ``=``."""
    if "=" not in text:
        raise SceneError(f"--set {text!r}: expected section.key=value, e.g. render.sigma=1e-5")
    key, raw = (s.strip() for s in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


@dataclasses.dataclass
class Config:
    """A checked TOML file: ``sections[name][key]`` (defaults filled in), the raw ``data`` (for
    keys the schema marks ``table-list``, left to their owner), ``locate`` for error messages,
    the file's folder ``root`` (relative paths in the file are relative to it) and the dotted keys
    ``overridden`` (key -> value) that overrides replaced."""
    path: str
    sections: dict
    data: dict
    locate: Locator
    root: str
    overridden: dict = dataclasses.field(default_factory=dict)

    def where(self, section, key=None, table_index=None):
        """Where a value came from, for error messages: ``"override section.key=value"`` for an
        overridden key, else the file and line (``locate.where``)."""
        dotted = f"{section}.{key}"
        if key is not None and dotted in self.overridden:
            return f"override {dotted}={show(self.overridden[dotted])}"
        return self.locate.where(section, key, table_index)


def load_config(path, schema, overrides=None):
    """Parse ``path`` and check it against ``schema``; ``overrides`` maps dotted keys
    (``"render.sigma"``) to values that replace the file's. ``table-list`` keys are not validated
    here (their default is kept in ``sections``; the tables stay in ``data``)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"scene file {path!r} does not exist")
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    locate = Locator(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SceneError(f"{path}: not valid TOML: {error}") from None
    for section, value in data.items():
        if section not in schema:
            raise SceneError(f"{locate.where(section)}: unknown section [{section}] "
                             f"(expected one of: {', '.join(schema)})")
        if not isinstance(value, dict):
            raise SceneTypeError(f"{locate.where(section)}: {section}: expected a [{section}] table, "
                                 f"got {show(value)}")
    sections = {}
    for section, fields in schema.items():
        out = {}
        for key, value in data.get(section, {}).items():
            if key not in fields:
                raise SceneError(f"{locate.where(section, key)}: unknown key '{section}.{key}' "
                                 f"(expected one of: {', '.join(fields)})")
            if fields[key].kind != "table-list":
                out[key] = validated(fields[key], value, locate.where(section, key), f"{section}.{key}")
        for key, field in fields.items():
            out.setdefault(key, field.default)
        sections[section] = out
    overridden = {}
    for dotted, value in (overrides or {}).items():
        section, _, key = str(dotted).partition(".")
        if section not in schema or key not in schema[section] or schema[section][key].kind == "table-list":
            known = [f"{s}.{k}" for s, fields in schema.items() for k, f in fields.items() if f.kind != "table-list"]
            raise SceneError(f"override {dotted!r}: unknown key (expected one of: {', '.join(known)})")
        sections[section][key] = validated(schema[section][key], value, f"override {dotted}={show(value)}", dotted)
        overridden[f"{section}.{key}"] = value
    return Config(path, sections, data, locate, os.path.dirname(os.path.abspath(path)), overridden)


def resolve(root, relative):
    """``relative`` (``~`` expanded) joined to the folder ``root`` and normalized."""
    return os.path.normpath(os.path.join(root, os.path.expanduser(relative)))


def existing(path, where, name):
    """``path`` if it is a file, else FileNotFoundError ``"{where}: {name}: file ... does not exist"``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: {name}: file {path!r} does not exist")
    return path
