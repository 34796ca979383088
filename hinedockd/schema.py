"""A config table's schema, declared once: on its frozen dataclass, each field's type,
its default, and an `Annotated[T, Key(...)]` with its bounds, its check and what it
means in the README's two languages.

From that one declaration, `read` validates a TOML table (the type, the bounds, the
allowed values, a key that is required, an unknown key refused; every error names the
file, the key as a dotted path and the problem) and `reference` writes the README's
configuration table (tests/test_config.py compares the READMEs with it), so a field,
its default and its documentation cannot drift apart. Only what spans fields (a TLS
file needs an https URL; the default window within the retention) stays hand-written,
in config.py.

Why no library: msgspec or pydantic would read the types, but the errors' phrasing
(`FILE: hosts[0].snmp.port: must be between 1 and 65535, got 70000`) is the product's
contract with the operator, the checks that are not types (a group that exists, an RE2
pattern, a readable file) would stay ours, neither writes the README, and a package
less is one less for the offline installs. This module is the ~200 lines they would
replace.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, NoReturn, TypeVar, get_args, get_origin, get_type_hints

# No number of the config means more than this (seconds: 31 years; counts and sizes:
# far past any host), so none can overflow a timer or a ring's size; some keys have
# tighter bounds of their own.
NUMBER_MAX = 1e9
Lang = Literal["en", "ja"]
D = TypeVar("D")


class ConfigError(Exception):
    """A config problem, already phrased for the operator."""


Check = Callable[[Any], "str | None"]  # the problem with a value as read, or None


@dataclass(frozen=True)
class Key:
    """One key's rules and words. `en`, `ja`: what it does (the README's last column);
    `min`, `max`: a number's bounds (every number has a minimum); `check`: a problem
    with the value that its type cannot say; `choices`: a string's allowed values when
    its type is not a Literal; `read`: a reader of its own for a shape the types do not
    say (a table of KEY = pattern); `shown`: the default as the README shows it (en,
    ja) when the value itself would not say it."""

    en: str
    ja: str
    min: float | None = None
    max: float = NUMBER_MAX
    check: Check | None = None
    choices: tuple[str, ...] = ()
    read: Callable[[Table, str], Any] | None = None
    shown: tuple[str, str] | None = None


class Table:
    """One TOML table being read: where it is (for errors), and which keys were used."""

    def __init__(self, file: str, path: str, data: Any) -> None:
        self.file, self.path = file, path
        if not isinstance(data, Mapping):
            self.fail("", f"must be a table, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data
        self.used: set[str] = set()

    def fail(self, key: str, problem: str) -> NoReturn:
        where = f"{self.path}.{key}" if self.path and key else (self.path or key)
        raise ConfigError(f"{self.file}: {where}: {problem}")

    def table(self, key: str) -> Table:
        """The table under `key` (empty when absent)."""
        self.used.add(key)
        return Table(self.file, self._at(key), self.data.get(key, {}))

    def array(self, key: str) -> list[Table]:
        """The array of tables under `key` (`[[hosts]]`)."""
        items = self.value(key, list, [])
        return [Table(self.file, f"{self._at(key)}[{i}]", item) for i, item in enumerate(items)]

    def value(self, key: str, kind: type[D], default: D) -> D:
        """The value under `key`, of this type (an int is a float; a bool is no number)."""
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)  # type: ignore[return-value]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            self.fail(key, f"must be {kind.__name__}, got {value!r}")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            self.fail(unknown[0], "unknown key (misspelt?)")

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key


@dataclass(frozen=True)
class Field:
    """One field of a schema: its name, type (without the Annotated), rules, default."""

    name: str
    kind: Any
    key: Key
    default: Any  # dataclasses.MISSING: required


@cache
def schema(cls: type) -> tuple[Field, ...]:
    """The fields of a config dataclass, each with its Key (a field without one is a
    mistake of ours: TypeError at the first read)."""
    hints = get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        kind, *extras = get_args(hints[f.name]) or (hints[f.name],)
        keys = [k for k in extras if isinstance(k, Key)]
        if len(keys) != 1:
            raise TypeError(f"{cls.__name__}.{f.name}: no Key")
        if _number(kind) and keys[0].min is None and keys[0].read is None:
            raise TypeError(f"{cls.__name__}.{f.name}: a number needs a minimum")
        out.append(Field(f.name, kind, keys[0], f.default))
    return tuple(out)


def read(cls: type[D], t: Table, **defaults: Any) -> D:
    """A `cls` from table `t`: every key checked, an unknown one refused. `defaults`:
    a field's default that comes from another table (a host's poll interval is the
    daemon's default window)."""
    values = {}
    for f in schema(cls):  # type: ignore[arg-type]  # a dataclass, hashable
        default = defaults.get(f.name, f.default)
        if f.key.read is not None:
            t.used.add(f.name)
            values[f.name] = f.key.read(t, f.name) if f.name in t.data else default
        elif f.name not in t.data:
            if default is dataclasses.MISSING:
                t.fail(f.name, "is required")
            t.used.add(f.name)
            values[f.name] = default
        else:
            values[f.name] = _typed(t, f)
    t.done()
    return cls(**values)


def _typed(t: Table, f: Field) -> Any:
    kind, key, name = f.kind, f.key, f.name
    origin, args = get_origin(kind), get_args(kind)
    if origin is Literal or key.choices:
        allowed = args if origin is Literal else key.choices
        value: Any = t.value(name, str, "")
        if value not in allowed:
            t.fail(name, f"must be one of {', '.join(allowed)}; got {value!r}")
    elif origin is types.UnionType:  # X | None
        (inner,) = (a for a in args if a is not type(None))
        if isinstance(inner, type) and dataclasses.is_dataclass(inner):
            return read(inner, t.table(name))
        value = t.value(name, inner, inner()) or None  # "" is unset
    elif origin is tuple:
        if dataclasses.is_dataclass(args[0]):
            return tuple(read(args[0], sub) for sub in t.array(name))  # type: ignore[arg-type]
        items = t.value(name, list, [])
        if not all(isinstance(i, str) for i in items):
            t.fail(name, f"must be a list of strings; got {items!r}")
        value = tuple(items)
    else:
        value = t.value(name, kind, kind())
        if _number(kind) and not key.min <= value <= key.max:
            # NaN and the infinities never pass (a `nan` compared false to every bound)
            t.fail(name, f"must be between {key.min:g} and {key.max:g}, got {value!r}")
    problem = key.check(value) if key.check else None
    if problem:
        t.fail(name, problem)
    return value


def _number(kind: Any) -> bool:
    return kind in (int, float)


# ---- the README's table ------------------------------------------------------------

NONE = {"en": "—", "ja": "なし"}
REQUIRED = {"en": "required", "ja": "必須"}
HEADER = {"en": "| key | default | allowed | meaning |",
          "ja": "| キー | 既定値 | 取りうる値 | 意味 |"}


def reference(sections: tuple[tuple[str, type], ...], lang: Lang) -> str:
    """The configuration table of the README in `lang`: a row a key, in the order of
    `sections` (each a table's name as the file spells it, and its dataclass)."""
    rows = [HEADER[lang], "|---|---|---|---|"]
    for table, cls in sections:
        for f in schema(cls):
            if _section(f.kind):
                continue  # a table of its own, with rows of its own
            rows.append(f"| `{table} {f.name}` | {_default(f, lang)} | {_allowed(f, lang)} "
                        f"| {getattr(f.key, lang)} |")
    return "\n".join(rows) + "\n"


def _section(kind: Any) -> bool:
    inner = [a for a in get_args(kind) if a is not type(None)] or [kind]
    return dataclasses.is_dataclass(inner[0]) and get_origin(kind) is not tuple


def _default(f: Field, lang: Lang) -> str:
    if f.key.shown:
        return f.key.shown[0 if lang == "en" else 1]
    value = f.default
    if value is dataclasses.MISSING:
        return REQUIRED[lang]
    if value is None:
        return NONE[lang]
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return _num(value)
    if isinstance(value, tuple):
        return f"`{json.dumps([v for v in value if isinstance(v, str)])}`"
    return f"`{value}`" if value else '`""`'


def _allowed(f: Field, lang: Lang) -> str:
    kind = f.kind
    if get_origin(kind) is Literal or f.key.choices:
        allowed = get_args(kind) if get_origin(kind) is Literal else f.key.choices
        return ", ".join(f"`{a}`" for a in allowed)
    if _number(kind) and f.key.min is not None:
        if f.key.max == NUMBER_MAX:
            return f"≥ {_num(f.key.min)}"
        return f"{_num(f.key.min)} – {_num(f.key.max)}"
    if kind is bool:
        return "`true`, `false`"
    return ""


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"
