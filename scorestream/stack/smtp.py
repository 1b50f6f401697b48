"""A real SMTP server (aiosmtpd) that keeps every message it receives as an ``.eml`` file."""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import smtplib
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from scorestream.stack.service import Service


class MaildirHandler:
    """aiosmtpd handler: one ``.eml`` file per received message, written atomically."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        maildir.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
        partial = self.maildir / f".{name}.part"
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        header = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
            f"X-Received-At: {email.utils.formatdate(usegmt=True)}\r\n"
        ).encode()
        partial.write_bytes(header + content)
        partial.rename(self.maildir / name)
        return "250 Message accepted for delivery"


def serve(host: str, port: int, maildir: Path) -> None:
    """Run the SMTP server until killed."""
    from aiosmtpd.controller import Controller

    controller = Controller(
        MaildirHandler(maildir), hostname=host, port=port, data_size_limit=50 * 1024 * 1024
    )
    controller.start()
    try:
        asyncio.run(_forever())
    finally:
        controller.stop()


async def _forever() -> None:
    await asyncio.Event().wait()


class SmtpServer(Service):
    """aiosmtpd on 127.0.0.1 writing into ``<state>/smtp/maildir``."""

    name = "smtp"

    @property
    def port(self) -> int:
        return self.config.smtp_port

    @property
    def maildir(self) -> Path:
        return self.home / "maildir"

    def install(self) -> None:
        import aiosmtpd  # noqa: F401 - a dependency of the project; fail early if absent

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        return [
            sys.executable,
            "-m",
            "scorestream.stack.smtp",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--maildir",
            str(self.maildir),
        ], None

    def probe(self) -> str:
        import aiosmtpd

        with smtplib.SMTP("127.0.0.1", self.port, timeout=3) as client:
            code, _ = client.noop()
            if code != 250:
                raise ConnectionError(f"SMTP NOOP answered {code}")
        return f"aiosmtpd {aiosmtpd.__version__}"

    def env(self) -> dict[str, str]:
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SCORESTREAM_MAILDIR": str(self.maildir),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SMTP server that stores .eml files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18025)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.maildir)


if __name__ == "__main__":
    main()
