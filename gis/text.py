"""Messages in two languages: English (what ``str`` gives, the command line's language) with a
简体中文 twin for the pages, which speak Chinese by default.

``Msg`` is a ``str`` (the English text), so code, tests and logs that read a message as text
keep working; a page asks ``in_lang(msg_or_error, lang)`` for the one it shows.
"""
from __future__ import annotations


class Msg(str):
    """An English message carrying its Chinese twin in ``zh``."""

    zh: str

    def __new__(cls, en: str, zh: str | None = None) -> Msg:
        self = super().__new__(cls, en)
        self.zh = zh if zh is not None else getattr(en, "zh", str.__str__(en))
        return self

    def text(self, lang: str | None = "zh") -> str:
        return str.__str__(self) if lang == "en" else self.zh


def in_lang(what: object, lang: str | None = "zh") -> str:
    """The text of a message, or of an exception whose first argument is one, in ``lang``
    (English where no Chinese twin was given)."""
    if isinstance(what, BaseException):
        what = what.args[0] if what.args and isinstance(what.args[0], str) else str(what)
    if isinstance(what, Msg):
        return what.text(lang)
    return str(what)
