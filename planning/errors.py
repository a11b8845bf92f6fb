"""What the planner's workspace refuses, in 简体中文 and English."""
from __future__ import annotations


class EditError(ValueError):
    """A draft operation that cannot be done; nothing was written.

    ``str()`` is the English text (the command line's language); ``message(lang)`` picks one.
    """

    def __init__(self, message_zh: str, message_en: str):
        self.message_zh, self.message_en = message_zh, message_en
        super().__init__(message_en)

    def message(self, lang: str | None = "zh") -> str:
        return self.message_en if lang == "en" else self.message_zh


class DraftNotFound(EditError):
    def __init__(self, draft_id: object):
        super().__init__(f"草稿 {draft_id} 不存在", f"draft {draft_id} does not exist")


class DraftClosed(EditError):
    """The draft was published or abandoned: it can no longer be edited."""

    def __init__(self, draft_id: int, status: str):
        zh = {"published": "已发布", "abandoned": "已放弃"}.get(status, status)
        super().__init__(f"草稿 {draft_id} {zh}，不能再修改", f"draft {draft_id} is {status} and can no longer be edited")
