"""Probes of the mock that are commands (the topology's ``command`` probes).

python -m mock_platform.probe own-upload-visible GATEWAY_URL
  a creator uploads, then at once lists their videos: prints "visible" or "missing"
  ("upload answered N" / "unreachable" when it cannot tell); the token is signed with
  $SHORTVIDEO_TOKEN_SECRET (the topology passes it in the environment)
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sys
import uuid

import httpx

CREATOR = "prober"


def own_upload_visible(gateway: str, secret: bytes) -> str:
    """Read-your-writes as a creator sees it: upload, then list my videos at once."""
    token = hmac.new(secret, CREATOR.encode(), hashlib.sha256).hexdigest()[:32]
    headers = {
        "Authorization": f"Bearer {CREATOR}.{token}",
        "Idempotency-Key": uuid.uuid4().hex,
        "Content-Type": "video/mp4",
    }
    try:
        with httpx.Client(base_url=gateway, timeout=2.0, trust_env=False) as http:
            made = http.post(
                "/v1/videos", content=b"probe" * 100, headers=headers, params={"title": "probe"}
            )
            if made.status_code != 202:
                return f"upload answered {made.status_code}"
            video_id = made.json()["video_id"]
            mine = http.get(f"/v1/creators/{CREATOR}/videos")
            mine.raise_for_status()
            listed = {v["video_id"] for v in mine.json()["videos"]}
    except (httpx.HTTPError, ValueError, KeyError):
        return "unreachable"
    return "visible" if video_id in listed else "missing"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mock_platform.probe")
    parser.add_argument("probe", choices=["own-upload-visible"])
    parser.add_argument("gateway")
    args = parser.parse_args(argv)
    secret = os.environ.get("SHORTVIDEO_TOKEN_SECRET", "").encode()
    print(own_upload_visible(args.gateway, secret))
    return 0


if __name__ == "__main__":
    sys.exit(main())
