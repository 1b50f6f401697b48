"""A real Prometheus over given samples: what the "Pipeline health" tests and preview query.

No Prometheus runs here, and none is installed: :func:`prometheus_tools` finds
``prometheus`` and ``promtool`` on ``PATH``, or unpacks them from Debian's ``prometheus``
package (``apt-get download``, then ``dpkg-deb -x`` into the repository's ``.stack/tools``:
no root, no system service). :class:`PrometheusTSDB` turns OpenMetrics text with timestamps into
TSDB blocks (``promtool tsdb create-blocks-from openmetrics``) and serves them with
``prometheus`` on a free port, so that PromQL runs exactly as Grafana would send it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

DEBIAN_PACKAGE = "prometheus"


class PrometheusMissing(RuntimeError):
    """``prometheus``/``promtool`` are not on PATH and could not be unpacked."""


@dataclass(frozen=True)
class PrometheusTools:
    prometheus: Path
    promtool: Path

    def check_config(self, config: Path) -> subprocess.CompletedProcess[str]:
        """``promtool check config`` (exit 0 when Prometheus would load ``config``)."""
        return subprocess.run(
            [str(self.promtool), "check", "config", str(config)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )


#: Where unpacked tools are kept: the repository's .stack (ignored by git), like the stack's.
TOOLS_DIR = Path(__file__).resolve().parents[1] / ".stack" / "tools"


def prometheus_tools(cache: Path | None = None) -> PrometheusTools:
    """``prometheus`` and ``promtool``: from ``PATH``, else unpacked from Debian's package.

    Raises
    ------
    PrometheusMissing
        With the reason, when neither works (not Debian, no network).
    """
    found = shutil.which("prometheus"), shutil.which("promtool")
    if found[0] and found[1]:
        return PrometheusTools(Path(found[0]), Path(found[1]))
    root = (cache or TOOLS_DIR) / DEBIAN_PACKAGE
    tools = PrometheusTools(root / "usr/bin/prometheus", root / "usr/bin/promtool")
    if tools.prometheus.exists() and tools.promtool.exists():
        return tools
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        raise PrometheusMissing("prometheus is not on PATH, and this is not Debian (apt-get)")
    with tempfile.TemporaryDirectory() as download:
        # apt's sandbox user must be able to write where the package lands.
        os.chmod(download, 0o777)  # noqa: S103 - a private temporary directory

        def fetch() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["apt-get", "download", DEBIAN_PACKAGE],
                cwd=download,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )

        fetched = fetch()
        if fetched.returncode != 0 and os.geteuid() == 0:
            # A fresh machine has no package lists yet (what require_tool does too).
            subprocess.run(
                ["apt-get", "update", "-q"], capture_output=True, check=False, timeout=600
            )
            fetched = fetch()
        packages = list(Path(download).glob(f"{DEBIAN_PACKAGE}_*.deb"))
        if fetched.returncode != 0 or not packages:
            raise PrometheusMissing(
                f"apt-get download {DEBIAN_PACKAGE} failed: {fetched.stderr.strip()[-500:]}"
            )
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(packages[0]), str(root)], check=True, timeout=600)
    if not (tools.prometheus.exists() and tools.promtool.exists()):
        raise PrometheusMissing(f"{packages[0].name} holds no usr/bin/prometheus and promtool")
    return tools


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusTSDB:
    """Samples in a TSDB, served by a ``prometheus`` of our own while in :meth:`serving`."""

    def __init__(self, tools: PrometheusTools, directory: Path) -> None:
        self.tools = tools
        self.directory = directory
        self.url = ""

    @classmethod
    def from_openmetrics(cls, tools: PrometheusTools, text: str, directory: Path) -> PrometheusTSDB:
        """Write ``text`` (OpenMetrics with timestamps, ending ``# EOF``) as TSDB blocks."""
        directory.mkdir(parents=True, exist_ok=True)
        source = directory / "samples.om"
        source.write_text(text)
        done = subprocess.run(
            [
                str(tools.promtool),
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(source),
                str(directory / "data"),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"promtool refused the samples: {done.stderr[-2000:]}")
        source.unlink()
        return cls(tools, directory)

    @contextmanager
    def serving(self, timeout_s: float = 60.0) -> Iterator[PrometheusTSDB]:
        """Run ``prometheus`` on the blocks (no scraping) until the block exits."""
        config = self.directory / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\n")
        port = _free_port()
        log = (self.directory / "prometheus.log").open("w")
        process = subprocess.Popen(
            [
                str(self.tools.prometheus),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.directory / 'data'}",
                # The samples are from a fixed past day: keep them, whatever today is.
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while not self._ready():
                if process.poll() is not None or time.monotonic() > deadline:
                    said = (self.directory / "prometheus.log").read_text()[-2000:]
                    raise RuntimeError(f"prometheus did not start: {said}")
                time.sleep(0.1)
            yield self
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            log.close()

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:  # noqa: S310
                return bool(answer.status == 200)
        except OSError:
            return False

    def _api(self, path: str, params: dict[str, str]) -> Any:
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(f"{self.url}/api/v1/{path}", data=body)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
                doc = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            raise ValueError(f"{params.get('query')}: {error.read().decode()}") from None
        return doc["data"]["result"]

    def query_range(
        self, expr: str, start: datetime, end: datetime, step_s: float
    ) -> list[dict[str, Any]]:
        """A range query's matrix: ``[{"metric": {...}, "values": [[t, "v"], ...]}, ...]``."""
        params = {
            "query": expr,
            "start": str(start.timestamp()),
            "end": str(end.timestamp()),
            "step": str(step_s),
        }
        return list(self._api("query_range", params))

    def query(self, expr: str, at: datetime) -> list[dict[str, Any]]:
        """An instant query's vector: ``[{"metric": {...}, "value": [t, "v"]}, ...]``."""
        return list(self._api("query", {"query": expr, "time": str(at.timestamp())}))
