"""Running the server until SIGTERM or SIGINT, then stopping every process it started.

LitServe shuts down gracefully only on KeyboardInterrupt; Python's default SIGTERM ends the main process
at once and leaves its children (the HTTP process, the inference worker, two multiprocessing managers, the
resource tracker) re-parented to PID 1, one of them still holding the listening socket. Here both signals
raise KeyboardInterrupt in the main process, and whatever child is left after LitServe's shutdown is ended.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from types import FrameType

from nlpzoo.optional import optional_import

with optional_import("serve"):
    import litserve as ls

log = logging.getLogger("nlpzoo.serve")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
GRACE_SECONDS = 3.0  # how long in-flight requests and children get before they are killed


def serve_until_stopped(server: ls.LitServer, host: str, port: int) -> None:
    """Serve on host:port until SIGTERM/SIGINT, then stop every process the server started and end this one."""
    server.uvicorn_graceful_timeout = GRACE_SECONDS  # LitServe's default waits 30 s for the HTTP process
    main_pid, stopped = os.getpid(), []

    def stop(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != main_pid:
            # A forked child (the HTTP process, a manager) inherited this handler: it just exits.
            raise SystemExit(128 + signum)
        for number in STOP_SIGNALS:  # a second signal must not interrupt the shutdown itself
            signal.signal(number, signal.SIG_IGN)
        log.info("%s received: stopping the server", signal.Signals(signum).name)
        stopped.append(signum)
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        # The HTTP server in its own (forked) process: LitServe can terminate a process, not a thread.
        server.run(
            host=host,
            port=port,
            generate_client_file=False,
            num_api_servers=1,
            api_server_worker_type="process",
        )
    except KeyboardInterrupt:
        # Our stop signal before LitServe's loop catches it (during model loading) is expected; others are not.
        if not stopped:
            raise
    finally:
        end_children()
        for number, handler in previous.items():
            signal.signal(number, handler)
    if stopped:
        # The listening socket lives until this process ends, and Python's own teardown of torch, transformers
        # and Lightning takes seconds of CPU: end it now, the children being gone and the logs flushed.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def end_children(grace: float = GRACE_SECONDS) -> None:
    """Terminate, then kill, every multiprocessing child still alive (workers, managers, the HTTP process)."""
    children = multiprocessing.active_children()
    log.info("stopping %d child process(es) left after LitServe's shutdown", len(children))
    for child in children:
        child.terminate()
    for child in children:
        child.join(grace)
        if child.is_alive():
            log.warning("%s (pid %s) did not stop in %.0f s: killing it", child.name, child.pid, grace)
            child.kill()
            child.join(grace)
