"""The few HTTPS pages the emulated appliances serve (minimal HTTP/1.1, read-only)."""

from __future__ import annotations

import html
import json

__all__ = ["WEB_LOGIN_TITLE", "page_for", "response"]

WEB_LOGIN_TITLE = "Cisco Clean Access — Web Login"

_STYLE = (
    "body{font-family:sans-serif;background:#eef2f6;margin:0}"
    "header{background:#1d4f7c;color:#fff;padding:14px 24px;font-size:20px}"
    "main{max-width:420px;margin:48px auto;background:#fff;padding:24px 32px;"
    "border-radius:8px;box-shadow:0 2px 8px #0002}"
    "label{display:block;margin:12px 0 4px}input{width:100%;padding:6px;box-sizing:border-box}"
    "button{margin-top:18px;padding:8px 20px;background:#1d4f7c;color:#fff;border:0;"
    "border-radius:4px}small{color:#667}"
)


def _html(title: str, body: str) -> bytes:
    t = html.escape(title)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{t}</title><style>{_STYLE}</style></head>"
        f"<body><header>{t}</header><main>{body}</main></body></html>\n"
    ).encode()


def page_for(appliance: str, role: str, kind: str) -> tuple[str, bytes]:
    """(content type, body) of the page an endpoint serves at ``/``."""
    name = html.escape(appliance)
    if kind == "web-login":
        body = (
            f"<p>Welcome to the network. Please log in. <small>(CAS {name})</small></p>"
            '<form id="login" method="post" action="/auth/perfigo_validate.jsp">'
            '<label for="username">User Name</label><input id="username" name="username">'
            '<label for="password">Password</label>'
            '<input id="password" name="password" type="password">'
            '<button type="submit">Continue</button></form>'
        )
        return "text/html; charset=utf-8", _html(WEB_LOGIN_TITLE, body)
    if kind == "gui":
        title = (
            "Clean Access Manager — Administration"
            if role == "cam"
            else "Clean Access Server — Administration"
        )
        body = (
            f"<p>Appliance <b>{name}</b></p>"
            '<form id="admin-login" method="post" action="/admin/login">'
            '<label for="user">Admin user</label><input id="user" name="user">'
            '<label for="pw">Password</label><input id="pw" name="pw" type="password">'
            '<button type="submit">Login</button></form>'
        )
        return "text/html; charset=utf-8", _html(title, body)
    doc = {"service": "clean-access-agent", "appliance": appliance, "role": role}
    return "application/json", (json.dumps(doc) + "\n").encode()


def response(status: int, reason: str, ctype: str, body: bytes, *, head: bool = False) -> bytes:
    headers = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    return headers if head else headers + body
