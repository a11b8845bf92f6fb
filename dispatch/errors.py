"""Errors of the lifecycle services, in Chinese with English available.

Every error carries a ``code`` and ``params``; ``message(lang)`` renders it (``"zh"`` default,
``"en"``), translating status, level, action and role codes found in params. ``str(error)``
is the Chinese message, so a UI that shows ``str(e)`` is already in Chinese.

- ``IllegalTransition``: the move is not in the transition table for the case's state; names
  the case number, the current state, the move, and the last change (who, what, when).
- ``PermissionDenied``: the actor's role or unit may not do this to this case.
- ``Conflict``: someone changed the case since the caller read it (``expected_version``) or at
  the same moment; says who did what and when.
- ``DatabaseUnavailable``: the database went away (restart, network) during the call; the
  transaction did not commit, so nothing was written and the same call may simply be retried.
- ``CaseNotFound``; ``InvalidInput`` (also a ``ValueError``): a missing reason, a bad level, …
"""
from __future__ import annotations

from datetime import datetime

from dispatch.states import label

MESSAGES: dict[str, dict[str, str]] = {
    "illegal_transition": {
        "zh": "案件 {case_no} 当前状态为“{status}”，不能执行“{action}”{last}",
        "en": "Case {case_no} is {status}; cannot {action}{last}",
    },
    "permission_denied": {
        "zh": "{actor}（{role}）无权对案件 {case_no} 执行“{action}”：{reason}",
        "en": "{actor} ({role}) may not {action} case {case_no}: {reason}",
    },
    "conflict": {
        "zh": "案件 {case_no} 已被他人处理：{by}于 {at} 执行了“{last_action}”，现为“{status}”。请核对案件现状后再操作（页面已按最新状态显示）",
        "en": "Case {case_no} was changed meanwhile: {by} did “{last_action}” at {at}; it is now {status}. Check the case as it is now (shown here) before acting again",
    },
    "busy": {
        "zh": "案件 {case_no} 正由他人同时处理，请稍后重试",
        "en": "Case {case_no} is being changed by someone else right now; try again",
    },
    "unavailable": {
        "zh": "数据库暂时不可用，操作未保存，请稍后重试",
        "en": "The database is unavailable for a moment; nothing was saved. Try again shortly",
    },
    "not_found": {"zh": "案件 {case_id} 不存在", "en": "No case {case_id}"},
    "invalid": {"zh": "{what}", "en": "{what_en}"},
}

# Reasons for PermissionDenied, by code.
REASONS: dict[str, dict[str, str]] = {
    "view_only": {"zh": "该角色只能查看", "en": "this role may only view"},
    "role": {"zh": "该角色不能执行此操作", "en": "this role cannot do this"},
    "jurisdiction": {"zh": "案件的层级/辖区不归本单位处置（{owner}）", "en": "the case's level/area belongs to another unit ({owner_en})"},
    "department": {"zh": "案件未派遣给本部门", "en": "the case is not dispatched to this department"},
    "community": {"zh": "案件不在本社区网格内", "en": "the case is not in this community's grids"},
    "inactive": {"zh": "该账户已停用", "en": "this account has been deactivated"},
    "supervision": {"zh": "只有上级单位或指挥中心可以督办", "en": "only a higher unit or the command centre may supervise"},
}

_TRANSLATED = {"status": "status", "action": "action", "last_action": "action", "role": "role", "level": "level"}


class LifecycleError(Exception):
    code = "error"

    def __init__(self, code: str | None = None, **params):
        if code:
            self.code = code
        self.params = params
        super().__init__(self.message("zh"))

    def message(self, lang: str = "zh") -> str:
        tmpl = MESSAGES.get(self.code, {}).get(lang) or MESSAGES.get(self.code, {}).get("zh") or self.code
        p = {}
        for k, v in self.params.items():
            if k in _TRANSLATED and isinstance(v, str):
                p[k] = label(_TRANSLATED[k], v, lang)
            elif isinstance(v, datetime):
                p[k] = v.strftime("%Y-%m-%d %H:%M")
            else:
                p[k] = "" if v is None else v
        if "reason" in self.params and self.params.get("reason") in REASONS:
            r = REASONS[self.params["reason"]]
            p["reason"] = (r.get(lang) or r["zh"]).format(**{k: p.get(k, "") for k in ("owner", "owner_en")})
        if "last" in self.params:
            p["last"] = _last_change(self.params["last"], lang)
        p.setdefault("what_en", p.get("what", ""))
        try:
            return tmpl.format(**p)
        except (KeyError, IndexError):
            return f"{self.code}: {self.params}"

    def __str__(self) -> str:
        return self.message("zh")


def _last_change(last: dict | None, lang: str) -> str:
    if not last:
        return ""
    at = last["at"].strftime("%Y-%m-%d %H:%M") if isinstance(last.get("at"), datetime) else last.get("at")
    by = last.get("by") or label("role", last.get("role") or "system", lang)
    act = label("action", last.get("action"), lang)
    if lang == "en":
        return f" (last change: {by} did “{act}” at {at})"
    return f"（最近一次：{by}于 {at} 执行“{act}”）"


class IllegalTransition(LifecycleError):
    code = "illegal_transition"


class PermissionDenied(LifecycleError):
    code = "permission_denied"


class Conflict(LifecycleError):
    code = "conflict"


class DatabaseUnavailable(LifecycleError):
    code = "unavailable"


class CaseNotFound(LifecycleError, LookupError):
    code = "not_found"


class InvalidInput(LifecycleError, ValueError):
    """Bad or missing input; ``what`` is the Chinese text, ``what_en`` the English one."""
    code = "invalid"

    def __init__(self, what: str, what_en: str | None = None, **params):
        super().__init__(None, what=what, what_en=what_en or what, **params)
