"""The READMEs' configuration tables are written from the config's schema
(hinedockd/config.py, hinedockd/schema.py): after changing a key, rewrite them with

    .venv/bin/python -m tests.readme_config

and tests/test_config.py checks that they are current."""

from __future__ import annotations

import re

from hinedockd.config import reference_table
from hinedockd.schema import Lang
from tests.conftest import ROOT

READMES: dict[Lang, str] = {"en": "README.md", "ja": "README.ja.md"}
BEGIN, END = "<!-- config table: written by `python -m tests.readme_config` -->", "<!-- end -->"
BETWEEN = re.compile(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), re.S)


def written(lang: Lang) -> str:
    """The table as the README in `lang` has it now."""
    m = BETWEEN.search((ROOT / READMES[lang]).read_text(encoding="utf-8"))
    if m is None:
        raise LookupError(f"{READMES[lang]}: no {BEGIN!r} … {END!r}")
    return m.group(1)


def main() -> None:
    for lang, name in READMES.items():
        path = ROOT / name
        text = path.read_text(encoding="utf-8")
        m = BETWEEN.search(text)
        if m is None:
            raise SystemExit(f"{name}: no {BEGIN!r} … {END!r}")
        new = text[:m.start(1)] + reference_table(lang) + text[m.end(1):]
        path.write_text(new, encoding="utf-8")
        print(name, "current" if new == text else "rewritten")

if __name__ == "__main__":
    main()
