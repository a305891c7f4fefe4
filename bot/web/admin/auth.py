"""Console log-in: sessions in an HttpOnly, SameSite=Strict cookie, CSRF tokens, throttled failed logins.

- ``GET/POST /admin/login``  the form. Failed log-ins make the client address (and, after many, every address)
  wait longer before the next try (``kb.login_throttle``); no account is ever locked. A wrong password, an
  unknown name and a try during a wait all get the same answer (401, ``TEXTS["bad_login"]``).
- ``POST /admin/logout``
Every other console route needs a session (``guard``): HTML pages redirect to the form, ``/admin/api/…`` answers
401 JSON, and every POST must carry the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from functools import partial

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, redirect
from sanic.response import json as sanic_json

from bot.alerts import record_alert, resolve_alert
from bot.config import admin_settings
from bot.web.admin.pages import ROLE_LABELS as ROLE_NAMES
from bot.web.admin.pages import csrf_field, esc, message, page
from bot.web.app import client_address
from kb import accounts

logger = logging.getLogger(__name__)

SESSION_COOKIE = "zmd_admin"
LOGIN_COOKIE = "zmd_admin_login"  # the login form's CSRF token, before there is a session
PUBLIC_ROUTES = {"login_form", "login"}
TEXTS = {
    "bad_login": "用户名或密码不正确，或尝试过于频繁。请核对后稍等片刻再试；如需帮助请联系系统管理员。",
    "expired": "页面已过期或请求来源不明（CSRF 校验失败），请刷新页面后重试。",
    "login_required": "请先登录。",
}


def _cookie(request: Request, response: HTTPResponse, name: str, value: str, path: str) -> None:
    response.cookies[name] = value
    cookie = response.cookies[name]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = path
    if request.scheme == "https":
        cookie["secure"] = True
    if not value:
        cookie["max-age"] = 0


def same_token(sent: str | None, expected: str) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


def sent_csrf(request: Request) -> str | None:
    form = request.form if (request.content_type or "").startswith(("application/x-www-form", "multipart/")) else {}
    return request.headers.get("X-CSRF-Token") or (form.get("csrf") if form else None)


def forbidden(request: Request) -> HTTPResponse:
    if request.path.startswith("/admin/api/"):
        return sanic_json({"error": TEXTS["expired"], "code": "csrf"}, status=403, ensure_ascii=False)
    return page("请求被拒绝", message(TEXTS["expired"]) + '<p><a href="/admin/">返回首页</a></p>', status=403)


def not_allowed(request: Request, *roles: str) -> HTTPResponse | None:
    """None when the logged-in account has one of `roles`; else a 403 (page or JSON) that says who may."""
    if request.ctx.login.account.role in roles:
        return None
    text = "您的账号没有权限访问此页面（需要：" + "、".join(ROLE_NAMES.get(role, role) for role in roles) + "）。"
    if request.path.startswith("/admin/api/"):
        return sanic_json({"error": text, "code": "forbidden"}, status=403, ensure_ascii=False)
    return page("没有权限", message(text) + '<p><a href="/admin/">返回首页</a></p>', status=403)


def database_unavailable(request: Request, error: Exception) -> HTTPResponse:
    """The console's database is unreachable: a 503 that says so (and an alert), never a 500 or a traceback."""
    logger.error("console: database unavailable on %s %s: %s", request.method, request.path, error)
    record_alert("console_db", "管理后台无法访问数据库（DATABASE_URL），请检查数据库服务；恢复后页面自动可用。")
    text = "数据库暂时无法访问，请稍后刷新重试；如持续出现请联系系统管理员检查数据库服务（DATABASE_URL）。"
    if request.path.startswith("/admin/api/"):
        return sanic_json({"error": text, "code": "database_unavailable"}, status=503, ensure_ascii=False)
    return page("服务暂不可用", message(text), status=503)


def _login_required(request: Request) -> HTTPResponse:
    if request.path.startswith("/admin/api/"):
        return sanic_json({"error": TEXTS["login_required"], "code": "login_required"}, status=401, ensure_ascii=False)
    return redirect("/admin/login")


async def guard(request: Request) -> HTTPResponse | None:
    """Request middleware of the console blueprint: a session for every route but the login form, CSRF on POST."""
    if request.route is None or request.route.name.rsplit(".", 1)[-1] in PUBLIC_ROUTES:
        return None
    login = accounts.resume_session(request.cookies.get(SESSION_COOKIE))
    if login is None:
        return _login_required(request)
    request.ctx.login = login
    resolve_alert("console_db", "管理后台已能访问数据库。")
    if request.method not in ("GET", "HEAD", "OPTIONS") and not same_token(sent_csrf(request), login.csrf_token):
        logger.warning("CSRF check failed for %s %s", request.method, request.path)
        return forbidden(request)
    return None


def _login_page(request: Request, text: str = "", status: int = 200, name: str = "") -> HTTPResponse:
    token = secrets.token_urlsafe(32)
    form = (
        f'<form method="post" action="/admin/login" class="login">{csrf_field(token)}'
        f'<label>用户名<input name="name" autocomplete="username" required value="{esc(name)}"></label>'
        '<label>密码<input name="password" type="password" autocomplete="current-password" required></label>'
        "<button type=submit>登录</button></form>"
    )
    response = page("管理后台登录", message(text) + form, status=status)
    _cookie(request, response, LOGIN_COOKIE, token, "/admin/login")
    return response


def ensure_admin_from_env() -> None:
    """BOT_ADMIN_USER / BOT_ADMIN_PASSWORD → a supervisor account, created or updated (at web-app start)."""
    wanted = admin_settings()
    if not wanted.user and not wanted.password:
        return
    if not wanted.user or not wanted.password:
        raise accounts.AccountError("BOT_ADMIN_USER and BOT_ADMIN_PASSWORD must be set together (or neither).")
    created = accounts.save_user(wanted.user, "supervisor", wanted.password)
    logger.info("%s supervisor %s from BOT_ADMIN_USER", "created" if created else "updated", wanted.user)


def add_routes(bp: Blueprint) -> None:
    @bp.get("/login")
    async def login_form(request: Request) -> HTTPResponse:
        if accounts.resume_session(request.cookies.get(SESSION_COOKIE)):
            return redirect("/admin/")
        return _login_page(request)

    @bp.post("/login")
    async def login(request: Request) -> HTTPResponse:
        form = request.form or {}
        if not same_token(form.get("csrf"), request.cookies.get(LOGIN_COOKIE) or ""):
            return _login_page(request, TEXTS["expired"], status=403)
        name, password = (form.get("name") or "").strip(), form.get("password") or ""
        check = partial(accounts.authenticate, name, password, client_address(request))
        result = await asyncio.get_running_loop().run_in_executor(None, check)  # scrypt takes ~50 ms
        if result.throttled:
            logger.warning("console log-in refused unchecked: the client address or all addresses must wait")
        if result.account is None:
            return _login_page(request, TEXTS["bad_login"], status=401, name=name)
        login = accounts.start_session(result.account)
        response = redirect("/admin/")
        _cookie(request, response, SESSION_COOKIE, login.token, "/admin")
        _cookie(request, response, LOGIN_COOKIE, "", "/admin/login")
        return response

    @bp.post("/logout")
    async def logout(request: Request) -> HTTPResponse:
        accounts.end_session(request.ctx.login.token)
        response = redirect("/admin/login")
        _cookie(request, response, SESSION_COOKIE, "", "/admin")
        return response
