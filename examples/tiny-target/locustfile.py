"""The notes system's load: writers add notes (each write in the operation history), readers
read back the notes they know of. A plain locustfile: the harness adds its own half."""

from __future__ import annotations

import random
import uuid

from locust import FastHttpUser, between, task

from harness.load.history import OperationHistory

HISTORY = OperationHistory()
SEEN: list[str] = []  # note ids acknowledged so far, in this process


class Writer(FastHttpUser):
    wait_time = between(0.2, 0.6)

    @task
    def write(self) -> None:
        operation = HISTORY.invoke("note", uuid.uuid4().hex)
        with self.client.post(
            "/notes", json={"text": "hello"}, name="write", catch_response=True
        ) as response:
            if response.status_code == 201:
                note = response.json()["id"]
                operation.ok(ref=note)
                SEEN.append(note)
            elif response.status_code and response.status_code < 500:
                operation.fail({"status": response.status_code})
            else:
                operation.info({"status": response.status_code})  # unknown: maybe stored


class Reader(FastHttpUser):
    wait_time = between(0.2, 0.6)

    @task
    def read(self) -> None:
        if SEEN:
            self.client.get(f"/notes/{random.choice(SEEN[-200:])}", name="read")
