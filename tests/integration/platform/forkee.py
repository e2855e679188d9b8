"""A stand-in service for the fork server's tests: ``python -m ... forkee MODE [ARG]``.

sleep: print its environment's FORKEE value and sleep until signalled; exit N: exit with N;
crash: raise; argv: print its argv.
"""

from __future__ import annotations

import os
import sys
import time


def main(argv: list[str]) -> int:
    mode = argv[0]
    if mode == "sleep":
        print(f"forkee {os.environ.get('FORKEE', '')} up", flush=True)
        time.sleep(600)
    elif mode == "exit":
        return int(argv[1])
    elif mode == "crash":
        raise RuntimeError("the forkee crashed on purpose")
    elif mode == "argv":
        print(sys.argv, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
