"""Workshop users for locust (run by ``python -m bench load``, in .venv-load).

Each user opens the toy lab and then moves one control every 1 to 2 s: a POST to
/_dash-update-component with a body prepared by bench/load.py (this file imports nothing of
the app, so locust's venv needs only locust).
"""

import json
import os
import random

from locust import HttpUser, between, task

with open(os.environ["LOAD_BODIES"]) as handle:
    BODIES = json.load(handle)


class WorkshopUser(HttpUser):
    wait_time = between(1, 2)

    def on_start(self) -> None:
        self.client.get("/", name="GET /")

    @task
    def move_a_control(self) -> None:
        body = random.choice(BODIES)
        with self.client.post("/_dash-update-component", json=body["body"], name=body["name"],
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif "Something went wrong" in response.text:
                response.failure("error banner")
