"""Workshop users for locust (run by ``python -m bench load``, in .venv-load).

Each user is bench/workshop.py's participant: it opens the toy lab and then moves one control every
1 to 2 s, with the bodies prepared by bench/load.py (LOAD_BODIES: the moves and the error banner's
id). This file and workshop.py import nothing of the app, so locust's venv needs only locust
(bench/load.py puts the repository on its PYTHONPATH); locust's HTTP session keeps the cookies the
server sets, as a browser does, and each user names an address of its own in X-Forwarded-For (the
server trusts one proxy), so the per-address limits see 50 networks, as on the internet.
"""

import itertools
import json
import os

from locust import HttpUser, task

from bench.workshop import ToyLabUser, address, failure

with open(os.environ["LOAD_BODIES"]) as handle:
    BODIES = json.load(handle)
NUMBERS = itertools.count()


class WorkshopUser(HttpUser):
    def on_start(self) -> None:
        self.client.headers["X-Forwarded-For"] = address(next(NUMBERS))
        self.participant = ToyLabUser(BODIES["moves"], BODIES["banner"])
        self.participant.open_page(self._send)

    def wait_time(self) -> float:
        return self.participant.wait_s()

    def _send(self, method: str, path: str, name: str, body: object) -> tuple[int, str]:
        with self.client.request(method, path, name=name, json=body, catch_response=True) as response:
            why = failure(response.status_code, response.text, BODIES["banner"])
            if why:
                response.failure(why)
            else:
                response.success()
            return response.status_code, response.text

    @task
    def move_a_control(self) -> None:
        self.participant.move_a_control(self._send)
