"""The fork server: one process imports a platform's code once, then forks each service from it
(as gunicorn's preload does), so services start in milliseconds and share the imported pages.

    python -m harness.forkserver MODULE[,MODULE...]      (started by harness/platform/forked.py)
    import every MODULE (gc.freeze(): the shared objects stay out of the collector's way)
    -> {"ready": true} | {"ready": false, "error": "..."} on stdout, one JSON line each
    stdin line {"name", "module", "args", "env", "log"} -> fork:
        child: SIGKILL when this server dies (PR_SET_PDEATHSIG; the server itself dies with the
               harness), named after the service (ps -o comm), stdin /dev/null, stdout and
               stderr the service's log, env updated, then ``python -m module args`` (runpy)
               -> exit code
        server: {"started": name, "pid": N} once the child's death signal is set (it closes
                a pipe), or {"failed": name, "error": "..."}
    a child ends -> reaped here -> {"exited": pid, "code": returncode} (-N for signal N)
    stdin closed -> the server exits (children die with it)

Single-threaded: requests, reaping (SIGCHLD wakes the loop) and replies, all in one loop, so a
fork never copies another thread's half-held lock. Standard library only: what it imports, every
service inherits.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import runpy
import select
import signal
import sys
import traceback

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def _send(message: dict[str, object]) -> None:
    os.write(1, (json.dumps(message) + "\n").encode())  # unbuffered: nothing for a fork to copy


def _die_with(parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the server died before prctl: do not outlive it
        os._exit(1)


def _name_process(name: str) -> None:
    """``ps -o comm``, top and htop show the service's name, not the server's."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_NAME, name.encode()[:15])


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _child(request: dict[str, object], server: int, wakeup: tuple[int, int], armed: int) -> None:
    """In the forked child: become the service; never returns. Closing ``armed`` tells the
    server the death signal is set (a pause before that would outlive a SIGKILLed harness)."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a fresh interpreter
        for fd in wakeup:
            os.close(fd)
        _die_with(server)
        _name_process(str(request["name"]))
        os.close(armed)
        log = os.open(str(request["log"]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(devnull)
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.update({str(k): str(v) for k, v in env.items()})
        args = request["args"]
        assert isinstance(args, list)
        sys.argv = ["-m", *map(str, args)]  # runpy sets argv[0] to the module's file
        gc.unfreeze()
        runpy.run_module(str(request["module"]), run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:  # a service's crash is its exit code and its log
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _serve(wakeup: tuple[int, int]) -> None:
    pending = b""
    server = os.getpid()
    while True:
        try:
            readable, _, _ = select.select([0, wakeup[0]], [], [])
        except InterruptedError:
            continue
        if wakeup[0] in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wakeup[0], 4096)
            _reap()
        if 0 not in readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            return  # the harness closed our stdin, or died
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            armed_read, armed = os.pipe()
            try:
                pid = os.fork()
            except OSError as exc:
                os.close(armed_read)
                os.close(armed)
                _send({"failed": request["name"], "error": str(exc)})
                continue
            if pid == 0:
                os.close(armed_read)
                _child(request, server, wakeup, armed)
            os.close(armed)
            os.read(armed_read, 1)  # EOF once the child closed it (armed) or died: answer
            os.close(armed_read)
            _send({"started": request["name"], "pid": pid})
        _reap()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m harness.forkserver MODULE[,MODULE...]", file=sys.stderr)
        return 2
    try:
        for module in filter(None, argv[0].split(",")):
            importlib.import_module(module)
    except BaseException as exc:  # reported to the harness, which names it
        traceback.print_exc()
        _send({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end)
    signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)  # wakes select via the fd
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's to handle
    gc.collect()
    gc.freeze()  # imported objects: never scanned again, so their pages stay shared
    _send({"ready": True})
    _serve((read_end, write_end))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
