"""A participant who starts background jobs over HTTP as the browser does, for bench load.

The page load gives the signed ``end_id``; the first POST starts the job and answers with its
signed handles; polls every 250 ms carry them until the answer holds the outputs. Each participant
has its own cookie jar (its own browser session) and, where given, its own client address.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from dashboard.callback_requests import callback_body

POLL_S = 0.25
CONFIG = re.compile(r'<script id="_dash-config" type="application/json">(.*?)</script>', re.S)


@dataclass
class JobOutcome:
    kind: str
    ended: str  # finished, failed (with the status text), or hung (no end before the deadline)
    text: str
    queued_s: float  # from the start until it left the queue
    total_s: float


class Participant:
    def __init__(self, url: str, dependencies: list[dict], address: str | None = None) -> None:
        """``address``: the participant's client address, sent as X-Forwarded-For (a server that
        trusts one proxy counts its per-address limits by it)."""
        self.url, self.dependencies = url, dependencies
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        if address is not None:
            self.opener.addheaders.append(("X-Forwarded-For", address))

    def _post(self, query: str, body: dict[str, Any], timeout: float = 30) -> tuple[int, dict]:
        request = urllib.request.Request(self.url + "/_dash-update-component?" + query,
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with self.opener.open(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else {})

    def run(self, kind: str, path: str, marker: str, values: dict[str, Any], text_id: str,
            finished: str, deadline_s: float = 300) -> JobOutcome:
        """Open ``path``, start its job (the callback writing ``marker``), follow it to its end."""
        start = time.monotonic()
        # a request may take as long as the job may (a machine busy with more than the bench: the suite's
        # smoke run beside browsers and servers took over 30 s to answer one)
        wait = max(30.0, deadline_s)
        with self.opener.open(self.url + path, timeout=wait) as response:
            end_id = json.loads(CONFIG.search(response.read().decode()).group(1))["end_id"]
        body = callback_body(self.dependencies, marker, values)
        status, data = self._post(f"endId={end_id}", body, wait)
        if status != 200 or "response" in data:
            text = json.dumps(data.get("response", {}))[:200]
            return JobOutcome(kind, "failed", text, 0.0, time.monotonic() - start)
        handles = f"endId={end_id}&cacheKey={data['cacheKey']}&job={data['job']}"
        poll = {**body, "inputs": [{**i, "value": None} for i in body["inputs"]],
                "state": [{**s, "value": None} for s in body["state"]]}
        queued_s, text = None, ""
        while time.monotonic() - start < deadline_s:
            time.sleep(POLL_S)
            status, data = self._post(handles, poll, wait)
            progress = data.get("progress", {})
            text = next((v for k, v in progress.items() if k.startswith(text_id) and isinstance(v, str)), text)
            if queued_s is None and progress and not text.startswith("Waiting"):
                queued_s = time.monotonic() - start
            if status == 204 or "response" in data:
                outputs = data.get("response", {})
                text = str(outputs.get(text_id, {}).get("children", text))
                ended = "finished" if finished in text else "failed"
                return JobOutcome(kind, ended, text, queued_s or 0.0, time.monotonic() - start)
        return JobOutcome(kind, "hung", text, queued_s or 0.0, time.monotonic() - start)
