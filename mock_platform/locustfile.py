"""The load the mock platform gets: viewers, creators and searchers (a plain locustfile).

The harness runs it beside its own half (harness/load/locustfile.py: samples, mix, users over
time), as ``locust -f <harness>,<this file>``; this file holds only what users do:

    Viewer   scrolls the feed, plays a video from it (a range), views it, sometimes likes it
    Searcher searches by words and hashtags drawn from a large vocabulary (caches cannot hide
             a search outage behind a handful of cached queries)
    Creator  uploads (an idempotency key per video, retried with it) and lists its videos;
             every upload is an operation in the history (invoke, then ok / fail / info),
             its invoke recording what the readers check it by after healing (the
             topology's load.readers): a word only its title has, the sha256 of its bytes
Creators' tokens are signed with $SHORTVIDEO_TOKEN_SECRET (the topology passes it in the
environment, never on a command line).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import uuid
from typing import Any

import gevent
from locust import FastHttpUser, between, task

from harness.load.history import OperationHistory

HISTORY = OperationHistory()
WORDS = ["clip", "cat", "dance", "surf", "news", "chaos", "city", "food", "music", "travel"]
QUERIES = [*WORDS, *(f"#{w}" for w in WORDS)]
# Uploads that break the rules: enough that a fault of 10 s (about 30 uploads) almost surely
# meets some (about 7; none at all: 0.05%). At 10% it met none in one run of five (make test), so
# a moderation that fails open once went unseen (nothing_published_unmoderated held).
VIOLATING_SHARE = 0.25


def _items(response: Any) -> list[dict[str, Any]] | None:
    """The answer's items, or None when a 200 is not what it claims (empty, cut, garbage):
    a wrong answer, counted apart from errors (the harness's wrong_answers)."""
    try:
        items = json.loads(response.content or b"").get("items")
    except (ValueError, AttributeError):
        return None
    return items if isinstance(items, list) else None


def _token(creator: str) -> str:
    secret = os.environ.get("SHORTVIDEO_TOKEN_SECRET", "").encode()
    digest = hmac.new(secret, creator.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{creator}.{digest}"


class Viewer(FastHttpUser):
    """Scrolls the feed, plays a video from it, sometimes likes it."""

    weight = 6
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.user_id = f"viewer{random.randrange(10**6)}"

    @task
    def scroll(self) -> None:
        with self.client.get(
            "/v1/feed", params={"user": self.user_id}, name="feed", catch_response=True
        ) as response:
            items = _items(response) if response.status_code == 200 else []
            if items is None:
                response.failure("a wrong answer: a 200 whose body is not a list of items")
                items = []
            elif response.status_code < 500:
                response.success()
        if items:
            video = random.choice(items)["video_id"]
            self.client.get(
                f"/v1/videos/{video}/play", headers={"Range": "bytes=0-1023"}, name="play"
            )
            self.client.post(f"/v1/videos/{video}/views", name="view")
            if random.random() < 0.2:
                self.client.post(f"/v1/videos/{video}/likes", name="like")


class Searcher(FastHttpUser):
    weight = 3
    wait_time = between(0.5, 1.5)

    @task
    def search(self) -> None:
        words = random.sample(QUERIES, random.choice((1, 1, 2)))
        with self.client.get(
            "/v1/search", params={"q": " ".join(words)}, name="search", catch_response=True
        ) as response:
            if response.status_code == 200 and _items(response) is None:
                response.failure("a wrong answer: a 200 whose body is not a list of results")


class Creator(FastHttpUser):
    """Uploads (each with its own idempotency key, retried with it), and checks its videos."""

    weight = 1
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        self.creator = f"creator{random.randrange(10**6)}"

    @task(3)
    def upload(self) -> None:
        key = uuid.uuid4().hex
        violating = random.random() < VIOLATING_SHARE
        headers = {
            "Authorization": f"Bearer {_token(self.creator)}",
            "Idempotency-Key": key,
            "Content-Type": "video/mp4",
        }
        tags = random.sample(WORDS, 2)
        take = f"take{key[:10]}"  # found by this word alone (the search reader)
        params = {
            "title": f"{random.choice(WORDS)} clip {take}",
            "hashtags": ",".join(tags),
            "violating": str(violating).lower(),
        }
        body = os.urandom(2048).hex()  # FastHttpSession types data as str
        value = {
            "violating": violating,
            "take": take,
            "sha256": hashlib.sha256(body.encode()).hexdigest(),
        }
        for _attempt in range(3):
            operation = HISTORY.invoke("upload", key, value)
            with self.client.post(
                "/v1/videos",
                data=body,
                headers=headers,
                params=params,
                name="upload",
                catch_response=True,
            ) as response:
                status = response.status_code or 0
                if status == 202:
                    operation.ok(ref=response.json()["video_id"])
                    return
                if status and status < 500:
                    operation.fail({"status": status})
                    return
                # A 5xx, timeout or reset: we do not know; retry with the same key.
                operation.info({"status": status})
            gevent.sleep(0.5)

    @task(1)
    def my_videos(self) -> None:
        self.client.get(f"/v1/creators/{self.creator}/videos", name="my_videos")
