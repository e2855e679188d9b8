"""The operation history a locustfile writes, for the invariants (Jepsen's history format).

    history = OperationHistory()             # the file comes from $HARNESS_HISTORY_JSONL
    op = history.invoke("order", key, {"priority": True})
    op.ok(ref=order_id)  |  op.fail({"status": 400})  |  op.info({"status": 503})

One JSON line per event, in ``<HARNESS_HISTORY_JSONL>.<pid>`` (one file per process):
    {"id": "...", "kind": "order", "key": "...", "type": "invoke", "time": 1.7e9, "value": {...}}
    {"id": "...", "kind": "order", "key": "...", "type": "ok", "time": ..., "ref": "o123"}
``ok``: acknowledged, readable back with ``ref``; ``fail``: certainly not done; ``info``: the
outcome is unknown (a timeout, a 5xx): never counted as lost, never as acknowledged. Retries
of one write reuse its ``key``. Without the variable (a locustfile run by hand) nothing is
written. No locust import: any locustfile, or any other load tool, can use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from typing import IO, Any

__all__ = ["ENV_VAR", "Operation", "OperationHistory"]

ENV_VAR = "HARNESS_HISTORY_JSONL"


class OperationHistory:
    def __init__(self, path: str | None = None) -> None:
        self._prefix = path if path is not None else os.environ.get(ENV_VAR, "")
        self._file: IO[str] | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def invoke(self, kind: str, key: str, value: Any = None) -> Operation:
        """A write starts; call ok/fail/info on what this returns when it ends."""
        operation = Operation(self, uuid.uuid4().hex, kind, key)
        self.write({"id": operation.id, "kind": kind, "key": key, "type": "invoke", "value": value})
        return operation

    def write(self, record: dict[str, Any]) -> None:
        if not self._prefix:
            return
        line = json.dumps({**record, "time": time.time()}) + "\n"
        with self._lock:
            if self._file is None or self._pid != os.getpid():  # a forked worker: its own file
                self._pid = os.getpid()
                self._file = open(  # noqa: SIM115 - kept open for the process's life
                    f"{self._prefix}.{self._pid}", "a", buffering=1, encoding="utf-8"
                )
            self._file.write(line)

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            if self._file is not None:
                self._file.close()
            self._file = None


class Operation:
    def __init__(self, history: OperationHistory, op_id: str, kind: str, key: str) -> None:
        self.history = history
        self.id = op_id
        self.kind = kind
        self.key = key

    def _end(self, kind: str, value: Any, ref: str | None) -> None:
        record: dict[str, Any] = {"id": self.id, "kind": self.kind, "key": self.key, "type": kind}
        if value is not None:
            record["value"] = value
        if ref is not None:
            record["ref"] = ref
        self.history.write(record)

    def ok(self, ref: str | None = None, value: Any = None) -> None:
        """Acknowledged; ``ref`` is what reads it back (the read-back URL's {ref})."""
        self._end("ok", value, ref)

    def fail(self, value: Any = None) -> None:
        """Certainly not done (the platform said no)."""
        self._end("fail", value, None)

    def info(self, value: Any = None) -> None:
        """The outcome is unknown (timed out, a 5xx): neither lost nor acknowledged."""
        self._end("info", value, None)
