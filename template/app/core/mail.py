"""Outgoing mail. The log backend writes each message to the log instead of sending it;
replace `send_email` with your provider's client (SMTP, SES, ...) when you have one."""

from dataclasses import dataclass

import structlog

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class EmailMessage:
    to: str
    subject: str
    body: str


def send_email(message: EmailMessage) -> None:
    logger.info("email_sent", backend="log", subject=message.subject, body=message.body)
