"""The SMTP sink: a multipart email with the HTML report, a plain-text (Markdown) part and the CSVs.

Many clients (Gmail, Outlook) block `data:` images, so the charts are re-attached as inline
`cid:` parts of a multipart/related body: the one image form every major client shows.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pydantic import SecretStr

from optimizer.report.render import RenderedReport

SMTPS_PORT = 465
_DATA_IMG = re.compile(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"([^>]*?)data-chart="([^"]+)"')


def build_message(rendered: RenderedReport, sender: str, recipients: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"AWS Batch cost report {rendered.headline}"
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] if "@" in sender else None)
    msg.set_content(rendered.markdown)

    cids = {name: make_msgid() for name in rendered.charts}

    def to_cid(match: re.Match[str]) -> str:
        chart = match.group(2)
        return f'src="cid:{cids[chart][1:-1]}"{match.group(1)}data-chart="{chart}"'

    html = _DATA_IMG.sub(to_cid, rendered.html)
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_payload()[-1]  # type: ignore[index]
    for name, png in rendered.charts.items():
        html_part.add_related(png, maintype="image", subtype="png", cid=cids[name], filename=f"{name}.png")
    for file_name, content in rendered.files.items():
        if file_name.endswith(".csv"):
            msg.add_attachment(content, maintype="text", subtype="csv", filename=file_name)
    return msg


@dataclass
class SmtpSink:
    host: str
    port: int
    sender: str
    recipients: list[str]
    starttls: bool = True
    user: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    timeout: float = 30.0
    name: str = "email"

    def _connect(self) -> smtplib.SMTP:
        """Port 465 speaks TLS from the first byte (SMTPS); any other port starts in clear text."""
        if self.port == SMTPS_PORT:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def deliver(self, rendered: RenderedReport) -> str:
        msg = build_message(rendered, self.sender, self.recipients)
        with self._connect() as smtp:
            smtp.ehlo()
            if self.starttls and not isinstance(smtp, smtplib.SMTP_SSL):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.user:
                secret = self.password.get_secret_value() if self.password else ""
                smtp.login(self.user, secret)
            refused = smtp.send_message(msg)
        delivered = len(self.recipients) - len(refused)
        if delivered == 0:
            raise RuntimeError(f"every recipient was refused: {', '.join(refused)}")
        extra = f" ({len(refused)} refused: {', '.join(refused)})" if refused else ""
        return f"sent to {delivered} recipient(s) via {self.host}:{self.port}{extra}"
