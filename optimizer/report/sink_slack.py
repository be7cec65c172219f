"""The Slack sink: a short summary posted to an incoming webhook (the full report lives elsewhere).

The webhook URL is a secret (anyone holding it can post): it is never logged or put in an error
message; errors name only the HTTP status or the network failure.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from optimizer.analysis.rollup import SPOT_SHARE_NAMES
from optimizer.report import fmt
from optimizer.report.render import RenderedReport

MAX_LINES = 5


def _esc(text: str) -> str:
    """Slack mrkdwn control characters (a queue named `a<b` must not become a broken link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(rendered: RenderedReport, link: str | None = None) -> dict[str, Any]:
    """Block Kit message: headline, key figures, anomalies, top recommendations, warnings."""
    report = rendered.report
    lines = [f"*{_esc(rendered.headline)}*"]
    use, spot = report.utilization, report.spot
    if use is not None and spot is not None:
        lines.append(
            f"Utilization {fmt.pct(use.utilization)} · idle {fmt.money(use.idle_usd)}"
            f" · {SPOT_SHARE_NAMES['spend'].lower()} {fmt.pct(spot.spot_share)}"
            f" · reclaims {spot.reclaimed_attempts}"
        )
    if report.anomalies:
        lines.append("*Anomalies*")
        lines += [f"• {_esc(a.message)}" for a in report.anomalies[:MAX_LINES]]
    if report.recommendations:
        lines.append("*Top open recommendations*")
        lines += [
            f"• {_esc(r.title)}: {fmt.money(r.monthly_savings_usd)}/month, {r.risk_level} risk"
            for r in report.recommendations[:3]
        ]
    lines += [f":warning: {_esc(n)}" for n in report.coverage.notes]
    if link:
        lines.append(f"<{link}|Full report>")
    text = "\n".join(lines)
    return {
        "text": rendered.headline,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


@dataclass
class SlackSink:
    webhook_url: SecretStr = field(repr=False)
    link: str | None = None
    timeout: float = 15.0
    name: str = "slack"

    def deliver(self, rendered: RenderedReport) -> str:
        body = json.dumps(slack_payload(rendered, self.link)).encode("utf-8")
        request = urllib.request.Request(
            self.webhook_url.get_secret_value(),
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = response.read(200).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"Slack webhook answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RuntimeError(f"Slack webhook unreachable: {reason}") from None
        return f"posted summary to the Slack webhook ({answer.strip() or 'ok'})"
