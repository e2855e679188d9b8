"""status: the public status page, derived every second from real health signals.

    status --GET /signals (status-gateway)-->    gateway: per-route error rate/p95, breakers
           --GET /signals (status-moderation)--> moderation: queue depth, oldest job age
           --GET /signals (status-feed)-->       feed: share of degraded/stale answers
           --GET /signals (status-metrics)-->    metrics: age of the counters
           --GET /lag     (status-replica)-->    catalog replica: replication lag
    -> components: operational | degraded | outage, each with a reason and since when
    -> incidents: one timestamped entry per change (status.json), and incidents with updates
       in the Atlassian Statuspage v2 shape (mock_platform.incidents)
    gateway --GET /status, /status.json, /api/v2/summary.json, /api/v2/incidents.json
            (gateway-status)--> status

A signal that cannot be read counts against its component (degraded), never as healthy.
With status-outages-only (the fragile profile has it) it reports only full outages: it is the
status page that "said nothing". status-flaps shows the signals as they come (no hysteresis)
and mirrors the search breaker (open: outage, half-open: degraded, every few seconds),
status-wrong-component shows search's trouble on the feed; status-silent and
status-resolves-early are the incidents' (mock_platform.incidents).
"""

from __future__ import annotations

import html
import time
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mock_platform.common import link_client
from mock_platform.incidents import IncidentLog, iso, summary
from mock_platform.kit import ServiceKit
from mock_platform.settings import Settings

COMPONENTS = {
    "upload": "Upload",
    "moderation": "Moderation",
    "feed": "For You feed",
    "search": "Search",
    "playback": "Playback",
    "metrics": "Metrics",
}
ROUTES = {
    "upload": "/v1/videos",
    "feed": "/v1/feed",
    "search": "/v1/search",
    "playback": "/v1/videos/{video_id}/play",
}
SOURCES = {
    "gateway": ("status-gateway", "/signals"),
    "moderation": ("status-moderation", "/signals"),
    "feed": ("status-feed", "/signals"),
    "metrics": ("status-metrics", "/signals"),
    "replica": ("status-replica", "/lag"),
}
ERROR_OUTAGE, ERROR_DEGRADED = 0.5, 0.05
QUEUE_AGE_S, LAG_S, COUNTERS_AGE_S, SLOW_P95_S = 10.0, 5.0, 10.0, 2.5
SHIPPING_FAILING_S = 2.0  # events the gateway cannot hand to metrics for this long: delayed
# A component gets worse on the page once the signals have said so for CONFIRM_S without a
# break (as the worst they said meanwhile: errors and a breaker opening a second later are one
# change, not two), and returns only to operational, once the signals have been operational
# for RECOVER_S (never a step down): a page that flips between states tells users nothing.
CONFIRM_S, RECOVER_S = 1.5, 3.0
REFRESH_S = 0.5
_SEVERITY = {"operational": 0, "degraded": 1, "outage": 2}


def judge(
    signals: dict[str, Any], outages_only: bool, mirror_breaker: bool = False
) -> dict[str, tuple[str, str]]:
    """Signals -> {component: (state, reason)}. Pure: unit-tested without sockets.
    mirror_breaker (status-flaps): an open breaker is an outage even while the cache answers."""
    gateway = signals.get("gateway")
    verdicts: dict[str, tuple[str, str]] = {}
    for component in COMPONENTS:
        problems: list[tuple[str, str]] = []
        if gateway is None:
            problems.append(("degraded", "gateway signals unavailable"))
        elif component in ROUTES:
            window = gateway["routes"].get(ROUTES[component], {"error_rate": 0.0, "p95_s": 0.0})
            rate = window["error_rate"]
            if rate >= ERROR_OUTAGE:
                problems.append(("outage", f"{rate:.0%} of requests failing"))
            elif rate >= ERROR_DEGRADED:
                problems.append(("degraded", f"{rate:.0%} of requests failing"))
            elif window["p95_s"] > SLOW_P95_S:
                problems.append(("degraded", f"slow: p95 {window['p95_s']:.1f} s"))
            if component == "search":
                cached = gateway.get("search_degraded_ratio", 0.0) >= 0.1
                if gateway["breakers"].get("search") == "open":
                    # cut off: an outage, unless searches asked before still get answers
                    problems.append(
                        ("degraded", "search is cut off (circuit open)")
                        if cached and not mirror_breaker
                        else ("outage", "search is cut off (circuit open)")
                    )
                if cached:
                    problems.append(("degraded", "serving cached results"))
        problems += _component_problems(component, signals, gateway)
        if outages_only:
            problems = [p for p in problems if p[0] == "outage"]
        if not problems:
            verdicts[component] = ("operational", "")
        else:
            worst = "outage" if any(p[0] == "outage" for p in problems) else "degraded"
            verdicts[component] = (worst, "; ".join(reason for _, reason in problems))
    return verdicts


def _component_problems(
    component: str, signals: dict[str, Any], gateway: dict[str, Any] | None
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if component == "moderation":
        queue = signals.get("moderation")
        if queue is None:
            problems.append(("degraded", "moderation queue unreachable"))
        elif queue["oldest_pending_age_s"] > QUEUE_AGE_S:
            problems.append(
                (
                    "degraded",
                    f"reviews delayed: oldest waiting {queue['oldest_pending_age_s']:.0f} s",
                )
            )
    elif component == "feed":
        feed, replica = signals.get("feed"), signals.get("replica")
        if feed is not None and feed["served"] and feed["degraded_ratio"] >= 0.1:
            problems.append(("degraded", "serving older feeds"))
        if replica is None:
            problems.append(("degraded", "catalog replica unreachable"))
        elif replica["lag_seconds"] > LAG_S:
            problems.append(
                ("degraded", f"new videos delayed: {replica['lag_seconds']:.0f} s behind")
            )
    elif component == "metrics":
        metrics = signals.get("metrics")
        backlog = (gateway or {}).get("outbox_oldest_age_s") or 0.0
        if metrics is None:
            problems.append(("degraded", "counters unreachable"))
        elif metrics["as_of_age_s"] > COUNTERS_AGE_S:
            problems.append(("degraded", f"counters {metrics['as_of_age_s']:.0f} s old"))
        failing = (gateway or {}).get("outbox_failing_s") or 0.0
        if backlog > COUNTERS_AGE_S:
            problems.append(("degraded", f"view/like counts delayed {backlog:.0f} s"))
        elif failing > SHIPPING_FAILING_S:
            problems.append(
                ("degraded", f"view/like counts delayed: metrics unreachable for {failing:.0f} s")
            )
    return problems


def misattributed(verdicts: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """status-wrong-component: search's trouble is shown on the For You feed (a page whose
    components were wired to the wrong monitors); search always looks operational."""
    search, feed = verdicts["search"], verdicts["feed"]
    worst = search if _SEVERITY[search[0]] > _SEVERITY[feed[0]] else feed
    return {**verdicts, "search": ("operational", ""), "feed": worst}


class Hysteresis:
    """What the page shows of one component (see CONFIRM_S, RECOVER_S). Pure: fed (state,
    now), it answers the state to publish. confirm_s = recover_s = 0 follows the signals."""

    def __init__(self, confirm_s: float = CONFIRM_S, recover_s: float = RECOVER_S) -> None:
        self.shown = "operational"
        self.confirm_s, self.recover_s = confirm_s, recover_s
        self._since: float | None = None  # when the signals began to differ from the page
        self._worst = "operational"  # the worst they said since

    def update(self, state: str, now: float) -> str:
        if state == "operational" and self.shown != "operational":
            if self._since is None or self._worst != "operational":
                self._since, self._worst = now, "operational"
            if now - self._since >= self.recover_s:
                self.shown, self._since = "operational", None
            return self.shown
        if _SEVERITY[state] <= _SEVERITY[self.shown]:
            self._since = None  # no better (never a step down: no flapping), no worse
            return self.shown
        if self._since is None or self._worst == "operational":
            self._since, self._worst = now, state
        elif _SEVERITY[state] > _SEVERITY[self._worst]:
            self._worst = state
        if now - self._since >= self.confirm_s:  # worse for confirm_s: the worst it was
            self.shown, self._since = self._worst, None
        return self.shown


class StatusPage:
    def __init__(self, settings: Settings, kit: ServiceKit) -> None:
        self.settings = settings
        self.clients = {
            name: link_client(settings, link, 0.8) for name, (link, _) in SOURCES.items()
        }
        for client in self.clients.values():
            kit.on_close(client.aclose)
        now = time.time()
        self.states: dict[str, dict[str, Any]] = {
            c: {"state": "operational", "reason": "", "since": now} for c in COMPONENTS
        }
        self.flaps = settings.has("status-flaps")
        self.shown = {c: Hysteresis() for c in COMPONENTS}
        self.log = IncidentLog(
            COMPONENTS,
            silent=settings.has("status-silent"),
            resolves_early=settings.has("status-resolves-early"),
        )
        self.incidents: list[dict[str, Any]] = []
        self.rollouts: list[dict[str, Any]] = []
        self.feed_regions: dict[str, Any] = {}
        self.updated_at = now
        kit.every(REFRESH_S, self.refresh)

    async def _read(self, name: str) -> dict[str, Any] | None:
        try:
            response = await self.clients[name].get(SOURCES[name][1])
            response.raise_for_status()
        except httpx.HTTPError:
            return None
        body: dict[str, Any] = response.json()
        return body

    async def refresh(self) -> None:
        signals = {name: await self._read(name) for name in SOURCES}
        now = time.time()
        gateway = signals.get("gateway") or {}
        self.rollouts = list(gateway.get("rollouts") or self.rollouts)
        self.feed_regions = dict(gateway.get("feed_regions") or self.feed_regions)
        outages_only = self.settings.has("status-outages-only")
        verdicts = judge(signals, outages_only, mirror_breaker=self.flaps)
        if self.settings.has("status-wrong-component"):
            verdicts = misattributed(verdicts)
        for component, (measured, found) in verdicts.items():
            current = self.states[component]
            state = measured if self.flaps else self.shown[component].update(measured, now)
            # held while it recovers: say so
            reason = found if state == measured else f"{found + '; ' if found else ''}recovering"
            if state != current["state"]:
                self.incidents.append(
                    {
                        "component": component,
                        "from": current["state"],
                        "to": state,
                        "at": now,
                        "message": reason or f"{COMPONENTS[component]} is operational again",
                    }
                )
                del self.incidents[:-200]
                self.states[component] = {"state": state, "reason": reason, "since": now}
            else:
                current["reason"] = reason
        self.log.update({c: (v["state"], v["reason"]) for c, v in self.states.items()}, now)
        self.updated_at = now

    def document(self) -> dict[str, Any]:
        return {
            "updated_at": self.updated_at,
            "components": {c: {"name": COMPONENTS[c], **self.states[c]} for c in COMPONENTS},
            "incidents": list(reversed(self.incidents[-50:])),
            "rollouts": [
                {k: r[k] for k in ("id", "service", "build", "state", "weight", "reason")}
                for r in self.rollouts
            ],
            "feed_region": self.feed_regions.get("active"),
            "open_incident": next(iter(self.summary()["incidents"]), None),
        }

    def summary(self) -> dict[str, Any]:
        page = {"id": "shortvideo", "name": "Short-video platform", "url": "/status"}
        page["updated_at"] = iso(self.updated_at)
        return summary(page, self.states, self.log)

    async def summary_json(self, request: Request) -> Response:
        return JSONResponse(self.summary())

    async def incidents_json(self, request: Request) -> Response:
        document = self.summary()
        incidents = self.log.documents()
        return JSONResponse({"page": document["page"], "incidents": incidents})

    async def json_page(self, request: Request) -> Response:
        return JSONResponse(self.document())

    async def html_page(self, request: Request) -> Response:
        doc = self.document()
        rows = "".join(
            f"<tr class='{v['state']}'><td>{html.escape(v['name'])}</td><td>{v['state']}</td>"
            f"<td>{html.escape(v['reason'])}</td></tr>"
            for v in doc["components"].values()
        )
        incidents = "".join(
            f"<li>{time.strftime('%H:%M:%S', time.gmtime(i['at']))} UTC "
            f"{html.escape(COMPONENTS[i['component']])}: {i['from']} &rarr; {i['to']}. "
            f"{html.escape(i['message'])}</li>"
            for i in doc["incidents"]
        )
        rollouts = "".join(
            f"<li>{html.escape(r['service'])}@{html.escape(r['build'])}: {r['state']}"
            f" (weight {r['weight']}%) {html.escape(r['reason'])}</li>"
            for r in doc["rollouts"]
        )
        incident = doc["open_incident"]
        updates = "".join(
            f"<li>{html.escape(u['created_at'][11:19])} UTC <b>{u['status']}</b>: "
            f"{html.escape(u['body'])}</li>"
            for u in (incident or {}).get("incident_updates", [])
        )
        current = (
            f"<h2>{html.escape(incident['name'])} ({incident['status']})</h2><ul>{updates}</ul>"
            if incident
            else ""
        )
        page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Status</title>
<meta http-equiv="refresh" content="5"><style>body{{font-family:sans-serif;margin:2em}}
td{{padding:.3em 1em}} .operational td:nth-child(2){{color:#1a7f37}}
.degraded td:nth-child(2){{color:#9a6700}} .outage td:nth-child(2){{color:#cf222e}}</style>
</head><body><h1>Platform status</h1>{current}<table>{rows}</table>
<h2>Incidents</h2><ul>{incidents or "<li>No incidents.</li>"}</ul>
<h2>Deployments</h2><ul>{rollouts or "<li>None.</li>"}</ul>
<p>Updated {time.strftime("%H:%M:%S", time.gmtime(doc["updated_at"]))} UTC.</p></body></html>"""
        return HTMLResponse(page)


def create_app(settings: Settings) -> Any:
    kit = ServiceKit(settings)
    page = StatusPage(settings, kit)
    routes = [
        Route("/status", page.html_page, methods=["GET"]),
        Route("/status.json", page.json_page, methods=["GET"]),
        Route("/api/v2/summary.json", page.summary_json, methods=["GET"]),
        Route("/api/v2/incidents.json", page.incidents_json, methods=["GET"]),
    ]
    return kit.app(routes)
