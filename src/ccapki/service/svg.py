"""The deployment as a picture: CAM, CAS, HA pairs and the trust links between them, as SVG.

Pure: :func:`deployment_svg` takes a :class:`~ccapki.topology.model.Deployment` and the
:class:`~ccapki.lifecycle.trustops.Matrix` of ``trust check`` (or None: not checked) and
returns SVG markup; it reads the matrix, it judges nothing itself.

The layout is one column, so it reads on a 390 px phone as on a desktop (the ``viewBox``
scales; the page's CSS sets the width): the CAM identity on top (an HA pair as two boxes
side by side, the heartbeat between them), a trunk down the left, and per CAS appliance a
branch from the trunk, coloured by that appliance's CAM<->CAS cell (it covers exactly the
links between it and the CAM's members). An HA pair's members are stacked, joined on the
right by a bracket coloured by the heartbeat cells. Each box carries a dot per client
channel (agent, web login, admin GUI). Every status is also a symbol and a ``<title>`` (the
findings), never colour alone.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from xml.sax.saxutils import escape as _xml_escape

from ccapki.topology.model import Appliance, Channel, Deployment, IdentitySpec

if TYPE_CHECKING:
    from ccapki.lifecycle.notify import StatusItemLike
    from ccapki.lifecycle.trustops import Matrix

__all__ = [
    "COLOURS",
    "STAGE_COLOURS",
    "STATUS_WORDS",
    "WIDTH",
    "LinkStatus",
    "deployment_svg",
    "expiry_timeline_svg",
    "is_expiry_warning",
    "link_status",
    "stage_class",
    "warn_words",
]

#: status -> (stroke/fill colour, symbol); the page's CSS may restyle the classes ``st-*``
COLOURS = {
    "pass": ("#1a7f37", "\u2713"),
    "warn": ("#9a6700", "!"),
    "fail": ("#cf222e", "\u2717"),
    "n/a": ("#8c959f", "\u2013"),
    "unchecked": ("#8c959f", "?"),
}
#: status -> the words the legend and the tooltips use
STATUS_WORDS = {
    "pass": "passes",
    "warn": "passes with a warning",
    "fail": "fails",
    "n/a": "does not apply",
    "unchecked": "not checked",
}
_RANK = {"fail": 4, "warn": 3, "pass": 2, "unchecked": 1, "n/a": 0}

_CLIENT_CHANNELS = (
    (Channel.AGENT, "agent"),
    (Channel.WEB_LOGIN, "web"),
    (Channel.ADMIN_GUI, "gui"),
)

#: the pictures' width in user units (their ``viewBox``): about 1:1 on a 390 px phone
WIDTH = 360
_PAD = 12
_TRUNK_X = 30
_BOX_X = 62
_BOX_W = 240
_BOX_H = 48
_GAP = 8
_GROUP_LABEL_H = 20
_GROUP_GAP = 14
_CAM_BOX_W = 140
_CAM_GAP = 44


class _CellLike(Protocol):
    @property
    def appliance(self) -> str: ...
    @property
    def channel(self) -> Channel: ...
    @property
    def findings(self) -> tuple[str, ...]: ...
    @property
    def warnings(self) -> tuple[str, ...]: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True)
class LinkStatus:
    """One link's status (``pass``, ``warn``, ``fail``, ``n/a`` or ``unchecked``) and the
    lines explaining it (findings, warnings, or why it does not apply)."""

    status: str
    lines: tuple[str, ...] = ()

    @property
    def colour(self) -> str:
        return COLOURS[self.status][0]

    @property
    def symbol(self) -> str:
        return COLOURS[self.status][1]


def link_status(cells: Iterable[_CellLike]) -> LinkStatus:
    """The worst status of ``cells`` (fail, warn, pass, unchecked, n/a), with their
    findings and warnings; no cell at all is ``unchecked``."""
    found = list(cells)
    if not found:
        return LinkStatus("unchecked", ("not checked",))
    worst = max(found, key=lambda c: _RANK.get(c.status, 1)).status
    lines: list[str] = []
    for c in found:
        if c.status == worst:
            lines += [*c.findings, *c.warnings]
    return LinkStatus(worst, tuple(dict.fromkeys(lines)))


def _x(text: str) -> str:
    return _xml_escape(text, {'"': "&quot;"})


def _fit(text: str, width: float, size: float) -> str:
    """``text`` cut (with an ellipsis) to about ``width`` units at font ``size``."""
    room = max(3, int(width / (size * 0.56)))
    return text if len(text) <= room else text[: room - 1] + "\u2026"


def is_expiry_warning(text: str) -> bool:
    """Whether a ``trust check`` warning is about expiry (a certificate inside its renewal
    window), not a lint (e.g. a CA without keyUsage, what web-PKI would refuse)."""
    return "renewal window" in text


def warn_words(warnings: Iterable[str]) -> str:
    """The words for channels that pass with ``warnings``: "passes with a warning", and
    "renew soon" only when one is about expiry."""
    if any(is_expiry_warning(w) for w in warnings):
        return "passes with a warning: a certificate is due for renewal (renew soon)"
    return "passes with a warning"


def _title(what: str, ls: LinkStatus, limit: int = 6) -> str:
    words = warn_words(ls.lines) if ls.status == "warn" else STATUS_WORDS[ls.status]
    lines = [f"{what}: {words}", *ls.lines[:limit]]
    if len(ls.lines) > limit:
        lines.append(f"(+{len(ls.lines) - limit} more on the trust page)")
    return f"<title>{_x(chr(10).join(lines))}</title>"


class _Canvas:
    def __init__(self, matrix: Matrix | None) -> None:
        self.parts: list[str] = []
        self.cells: dict[tuple[str, Channel], list[_CellLike]] = {}
        if matrix is not None:
            for c in matrix.cells:
                self.cells.setdefault((c.appliance, c.channel), []).append(c)
        self.checked = matrix is not None

    def status(self, appliances: Sequence[Appliance], channel: Channel) -> LinkStatus:
        cells = [c for a in appliances for c in self.cells.get((a.name, channel), [])]
        return link_status(cells)

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def line(
        self, points: Sequence[tuple[float, float]], ls: LinkStatus, what: str, kind: str
    ) -> None:
        d = " ".join(f"{x:g},{y:g}" for x, y in points)
        self.add(
            f'<g class="link {kind} st-{_cls(ls.status)}">{_title(what, ls)}'
            f'<polyline points="{d}" fill="none" stroke="{ls.colour}" stroke-width="3"'
            f"{_dash(ls.status)}/></g>"
        )

    def badge(self, x: float, y: float, ls: LinkStatus, what: str) -> None:
        self.add(
            f'<g class="badge st-{_cls(ls.status)}">{_title(what, ls)}'
            f'<circle cx="{x:g}" cy="{y:g}" r="8" fill="{ls.colour}"/>'
            f'<text x="{x:g}" y="{y + 4:g}" text-anchor="middle" font-size="11" '
            f'font-weight="700" fill="#ffffff">{_x(ls.symbol)}</text></g>'
        )

    def box(self, a: Appliance, x: float, y: float, w: float, channels: Sequence[Channel]) -> None:
        self.add(
            f'<g class="appliance" data-appliance="{_x(a.name)}">'
            f"<title>{_x(f'{a.name} ({a.role.value.upper()}, {a.host})')}</title>"
            f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{_BOX_H}" rx="6" '
            f'fill="#ffffff" stroke="#57606a" stroke-width="1.5"/>'
            f'<text x="{x + 10:g}" y="{y + 19:g}" font-size="14" font-weight="600" '
            f'fill="#1f2328">{_x(_fit(a.name, w - 20, 14))}</text></g>'
        )
        cx = x + 14
        for channel, label in _CLIENT_CHANNELS:
            if channel not in channels:
                continue
            ls = self.status([a], channel)
            what = f"{a.name} {channel.value}"
            self.add(
                f'<g class="chip st-{_cls(ls.status)}" data-channel="{channel.value}">'
                f"{_title(what, ls)}"
                f'<circle cx="{cx:g}" cy="{y + 35:g}" r="5" fill="{ls.colour}"/>'
                f'<text x="{cx + 8:g}" y="{y + 39:g}" font-size="11" fill="#424a53">'
                f"{_x(label)}</text></g>"
            )
            cx += 14 + 8 + len(label) * 7


def _cls(status: str) -> str:
    return "na" if status == "n/a" else status


def _dash(status: str) -> str:
    """A dashed line for what is not a verdict (n/a, unchecked): not colour alone."""
    return ' stroke-dasharray="5 4"' if status in ("n/a", "unchecked") else ""


def _cam_channels(spec: IdentitySpec) -> tuple[Channel, ...]:
    return (Channel.ADMIN_GUI,)


def _cas_channels(spec: IdentitySpec) -> tuple[Channel, ...]:
    return (Channel.AGENT, Channel.WEB_LOGIN, Channel.ADMIN_GUI)


def _legend(c: _Canvas, y: float) -> float:
    c.add(
        f'<text x="{_PAD}" y="{y + 12:g}" font-size="12" font-weight="600" '
        f'fill="#1f2328">Legend</text>'
    )
    y += 22
    rows = [
        ("pass", "passes"),
        ("warn", "passes with a warning"),
        ("fail", "fails"),
        ("n/a", "n/a or not checked"),
    ]
    for i, (status, words) in enumerate(rows):
        col, row = i % 2, i // 2
        x0 = _PAD + col * 172
        y0 = y + row * 22
        colour, symbol = COLOURS[status]
        c.add(
            f'<g class="legend-item st-{_cls(status)}">'
            f'<line x1="{x0:g}" y1="{y0 + 6:g}" x2="{x0 + 26:g}" y2="{y0 + 6:g}" '
            f'stroke="{colour}" stroke-width="3"{_dash(status)}/>'
            f'<circle cx="{x0 + 13:g}" cy="{y0 + 6:g}" r="7" fill="{colour}"/>'
            f'<text x="{x0 + 13:g}" y="{y0 + 10:g}" text-anchor="middle" font-size="10" '
            f'font-weight="700" fill="#ffffff">{_x(symbol)}</text>'
            f'<text x="{x0 + 34:g}" y="{y0 + 10:g}" font-size="12" fill="#1f2328">'
            f"{_x(words)}</text></g>"
        )
    y += 2 * 22 + 4
    notes = [
        "branch: CAM\u2194CAS mutual TLS of that appliance",
        "bracket: HA heartbeat (IPsec) of the pair",
        "dots: agent, web login, admin GUI (clients)",
    ]
    for note in notes:
        c.add(f'<text x="{_PAD}" y="{y + 10:g}" font-size="11" fill="#424a53">{_x(note)}</text>')
        y += 16
    return y


def deployment_svg(
    deployment: Deployment, matrix: Matrix | None, *, limit: int = 60, title: str | None = None
) -> str:
    """The deployment's picture as an ``<svg>`` element (a string, safe to embed in HTML).

    ``matrix``: the ``trust check`` of the deployment (None: drawn grey, "not checked").
    ``limit``: at most that many CAS identities are drawn; a note counts the rest.
    Raises nothing.
    """
    c = _Canvas(matrix)
    dep = deployment
    y: float = _PAD
    heading = title or f"{dep.name} (CCA {dep.release})"
    c.add(
        f'<text x="{_PAD}" y="{y + 14:g}" font-size="15" font-weight="700" '
        f'fill="#1f2328">{_x(_fit(heading, WIDTH - 2 * _PAD, 15))}</text>'
    )
    y += 26
    if not c.checked:
        c.add(
            f'<text x="{_PAD}" y="{y + 10:g}" font-size="12" fill="#8c959f">'
            "trust not checked: every link grey</text>"
        )
        y += 18

    # --- the CAM identity on top
    cam = dep.cam
    c.add(
        f'<text x="{_PAD}" y="{y + 13:g}" font-size="12" fill="#424a53">'
        f"{_x(_fit(_group_label(cam), WIDTH - 2 * _PAD, 12))}</text>"
    )
    y += _GROUP_LABEL_H
    cam_top = y
    cam_x = float(_PAD + 6)
    c.box(cam.primary, cam_x, y, _CAM_BOX_W, _cam_channels(cam))
    if cam.secondary is not None:
        x2 = cam_x + _CAM_BOX_W + _CAM_GAP
        hb = c.status(cam.members, Channel.HA_HEARTBEAT)
        mid = y + _BOX_H / 2
        what = f"{cam.name} HA heartbeat"
        c.line([(cam_x + _CAM_BOX_W, mid), (x2, mid)], hb, what, "heartbeat")
        c.badge(cam_x + _CAM_BOX_W + _CAM_GAP / 2, mid, hb, what)
        c.box(cam.secondary, x2, y, _CAM_BOX_W, _cam_channels(cam))
    y = cam_top + _BOX_H

    # --- the CAS identities below, one branch per appliance
    shown = dep.cas[:limit]
    branch_ys: list[float] = []
    branches: list[tuple[float, Appliance]] = []
    y += _GROUP_GAP
    for spec in shown:
        c.add(
            f'<text x="{_BOX_X}" y="{y + 13:g}" font-size="12" fill="#424a53">'
            f"{_x(_fit(_group_label(spec), WIDTH - _BOX_X - _PAD, 12))}</text>"
        )
        y += _GROUP_LABEL_H
        tops: list[float] = []
        for m in spec.members:
            c.box(m, _BOX_X, y, _BOX_W, _cas_channels(spec))
            tops.append(y)
            branches.append((y + _BOX_H / 2, m))
            y += _BOX_H + _GAP
        if spec.secondary is not None:
            hb = c.status(spec.members, Channel.HA_HEARTBEAT)
            right = _BOX_X + _BOX_W
            y1, y2 = tops[0] + _BOX_H / 2, tops[1] + _BOX_H / 2
            what = f"{spec.name} HA heartbeat"
            c.line([(right, y1), (right + 26, y1), (right + 26, y2), (right, y2)], hb, what, "hb")
            c.badge(right + 26, (y1 + y2) / 2, hb, what)
        y += _GROUP_GAP - _GAP
    if branches:
        bottom = branches[-1][0]
        c.add(
            f'<line class="trunk" x1="{_TRUNK_X}" y1="{cam_top + _BOX_H:g}" x2="{_TRUNK_X}" '
            f'y2="{bottom:g}" stroke="#57606a" stroke-width="3"/>'
        )
        for by, m in branches:
            ls = c.status([m], Channel.CAM_CAS)
            what = f"{cam.name} \u2194 {m.name} (CAM\u2194CAS)"
            c.line([(_TRUNK_X, by), (_BOX_X, by)], ls, what, "cam-cas")
            c.badge((_TRUNK_X + _BOX_X) / 2, by, ls, what)
            branch_ys.append(by)
    if len(dep.cas) > len(shown):
        more = len(dep.cas) - len(shown)
        c.add(
            f'<text x="{_BOX_X}" y="{y + 12:g}" font-size="12" fill="#424a53">'
            f"+{more} more CAS identities: see the trust page</text>"
        )
        y += 22
    y += 6
    y = _legend(c, y) + _PAD

    label = _summary(dep, matrix)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="deployment-picture" '
        f'viewBox="0 0 {WIDTH} {y:g}" width="{WIDTH}" height="{y:g}" role="img" '
        f'aria-labelledby="pic-title" preserveAspectRatio="xMinYMin meet" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">'
        f'<title id="pic-title">{_x(label)}</title>' + "".join(c.parts) + "</svg>"
    )


def _group_label(spec: IdentitySpec) -> str:
    role = "CAM" if spec.role.value == "cam" else "CAS"
    shape = "HA pair" if spec.ha else "standalone"
    return f"{role} {spec.name} \u00b7 {shape} \u00b7 {spec.source.value}"


def _summary(dep: Deployment, matrix: Matrix | None) -> str:
    """The picture's accessible name: what it shows and the verdict in words."""
    n_cas = len(dep.cas)
    what = f"Deployment {dep.name}: CAM {dep.cam.name} and {n_cas} CAS identities"
    if matrix is None:
        return f"{what}; trust not checked"
    failing = sorted({f"{c.appliance} {c.channel.value}" for c in matrix.cells if c.ok is False})
    if not failing:
        return f"{what}; every channel passes"
    shown = ", ".join(failing[:8]) + (f" (+{len(failing) - 8} more)" if len(failing) > 8 else "")
    return f"{what}; failing: {shown}"


# ---------------------------------------------------------------------------- timeline

#: stage class -> colour: ``ok``, a warn stage (``stage``; the tightest one ``soon``),
#: ``expired``, ``pending`` (a CSR), ``damaged`` (a stored certificate not its row's)
STAGE_COLOURS = {
    "ok": "#1a7f37",
    "stage": "#9a6700",
    "soon": "#bc4c00",
    "expired": "#cf222e",
    "pending": "#8250df",
    "missing": "#cf222e",
    "not-yet-valid": "#cf222e",
    "damaged": "#cf222e",
    "unused": "#8c959f",
}


def stage_class(stage: str, warn_days: Sequence[int] = (), *, in_use: bool = True) -> str:
    """The colour class of a status stage: ``ok``, ``expired``, ``pending``, ``missing``
    (an identity without a certificate), ``not-yet-valid``, ``damaged`` (both CRITICAL,
    red as expired), ``unused`` (a CA nothing uses), ``soon`` (the tightest warn stage) or
    ``stage`` (another one)."""
    if not in_use:
        return "unused"
    if stage in ("ok", "expired", "pending", "missing", "not-yet-valid", "damaged"):
        return stage
    if stage.isdigit() and warn_days and int(stage) <= min(warn_days):
        return "soon"
    return "stage"


#: What a bar red for another reason than its days says beside them.
_RED_WORDS = {"not-yet-valid": "not valid yet", "damaged": "stored certificate damaged"}

_KIND_WORDS = {
    "identity": "identity",
    "ca": "CA",
    "chain-ca": "chain CA",
    "trust-root": "trust root",
    "csr": "CSR",
}


def expiry_timeline_svg(
    items: Sequence[StatusItemLike],
    now: dt.datetime,
    *,
    warn_days: Sequence[int] = (60, 30, 7),
    limit: int = 40,
) -> str:
    """The expiry timeline: one bar per item from ``now`` to its expiry, by date (soonest
    first), coloured by its stage, with a line at each warn stage; items without a date
    (pending CSRs) are left out. ``limit``: at most that many bars; a note counts the rest.

    Returns an ``<svg>`` element (a string, safe to embed in HTML). Raises nothing.
    """
    dated = sorted(
        (i for i in items if i.not_after is not None),
        key=lambda i: (i.not_after or now, i.name),
    )
    shown = dated[:limit]
    left, right = 8.0, WIDTH - 8.0
    longest = max([i.days_left or 0 for i in shown] + [max(warn_days, default=60) * 2, 365])
    # a log scale: the warn stages (days) and a 20-year root both stay readable
    zero = left + 22.0  # expired items get a stub left of "today"
    top = math.log1p(longest)

    def x_at(days: float) -> float:
        if days <= 0:
            return zero
        return min(right, zero + math.log1p(days) / top * (right - zero))

    ticks: list[tuple[float, str, str]] = [
        (float(d), f"{d}d", "#9a6700") for d in sorted(set(warn_days)) if 0 < d < longest
    ]
    ticks += [(365.0 * n, f"{n}y", "#57606a") for n in (1, 2, 5, 10, 20) if 365 * n < longest]
    parts: list[str] = []
    y = 4.0
    parts.append(
        f'<text x="{zero:g}" y="{y + 10:g}" font-size="10" text-anchor="middle" '
        f'fill="#424a53">now</text>'
    )
    last_x = zero
    for d, word, colour in ticks:
        if x_at(d) - last_x < 18:
            continue
        last_x = x_at(d)
        parts.append(
            f'<text x="{x_at(d):g}" y="{y + 10:g}" font-size="10" text-anchor="middle" '
            f'fill="{colour}">{word}</text>'
        )
    y += 16
    row_h = 30.0
    for item in shown:
        assert item.not_after is not None
        days = (item.not_after - now).total_seconds() / 86400
        cls = stage_class(item.stage, warn_days, in_use=item.in_use)
        colour = STAGE_COLOURS[cls]
        kind = _KIND_WORDS.get(item.kind, item.kind)
        left_words = f"{item.days_left} days left" if days >= 0 else "expired"
        if item.in_use and item.stage in _RED_WORDS:  # red for another reason than its days
            left_words = f"{_RED_WORDS[item.stage]}, {left_words}"
        label = f"{item.name} \u00b7 {kind}"
        when = f"{item.not_after:%Y-%m-%d} \u00b7 {left_words}"
        x0, x1 = (left, zero) if days < 0 else (zero, x_at(days))
        tip = f"{item.name} ({kind}): expires {item.not_after:%Y-%m-%d %H:%M} UTC, {left_words}"
        bar_y = y + 15
        marks = "".join(
            f'<line x1="{x_at(d):g}" y1="{bar_y - 2:g}" x2="{x_at(d):g}" y2="{bar_y + 11:g}" '
            f'stroke="{c}" stroke-width="1" stroke-dasharray="2 2"/>'
            for d, _w, c in ticks
            if c != "#57606a"
        )
        parts.append(
            f'<g class="bar stage-{cls}"><title>{_x(tip)}</title>'
            f'<text x="{left:g}" y="{y + 11:g}" font-size="11" fill="#1f2328">'
            f"{_x(_fit(label, (right - left) * 0.58, 11))}</text>"
            f'<text x="{right:g}" y="{y + 11:g}" font-size="10" text-anchor="end" '
            f'fill="#424a53">{_x(when)}</text>'
            f'<rect x="{left:g}" y="{bar_y:g}" width="{right - left:g}" height="9" rx="2" '
            f'fill="#f6f8fa"/>{marks}'
            f'<rect x="{x0:g}" y="{bar_y:g}" width="{max(2.0, x1 - x0):g}" height="9" '
            f'rx="2" fill="{colour}"/>'
            f'<line x1="{zero:g}" y1="{bar_y - 2:g}" x2="{zero:g}" y2="{bar_y + 11:g}" '
            f'stroke="#57606a" stroke-width="1.5"/></g>'
        )
        y += row_h
    if not shown:
        parts.append(
            f'<text x="{left:g}" y="{y + 14:g}" font-size="12" fill="#424a53">'
            "nothing with an expiry date yet</text>"
        )
        y += 22
    if len(dated) > len(shown):
        parts.append(
            f'<text x="{left:g}" y="{y + 14:g}" font-size="11" fill="#424a53">'
            f"+{len(dated) - len(shown)} later: see the table below</text>"
        )
        y += 22
    y += 6
    label = f"Expiry timeline: {len(dated)} certificates by expiry date, soonest first"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="expiry-timeline" '
        f'viewBox="0 0 {WIDTH} {y:g}" width="{WIDTH}" height="{y:g}" role="img" '
        f'aria-labelledby="timeline-title" preserveAspectRatio="xMinYMin meet" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">'
        f'<title id="timeline-title">{_x(label)}</title>' + "".join(parts) + "</svg>"
    )
