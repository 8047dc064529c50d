"""A pre-imported Python for the suite's `python SCRIPT.py ...` commands: each runs in a fork of a server
that has already imported the third-party stack (torch, Lightning, torchmetrics, transformers, datasets,
Hydra), so it skips the 8-12 s those imports cost a fresh interpreter on 2 cores (measured: over half of a
tiny README training command). The project's own modules are never pre-imported: every command imports
nlpzoo and its script fresh, as a user's `python train.py` does.

Each command still is its own process, with its own argv, working directory, environment and standard
streams (passed over a Unix socket), its exit status, and the signals its client receives. Anything the
server cannot reproduce exactly runs in a real fresh interpreter instead: interpreter options (`-c`, `-u`,
...), an environment that differs from the server's (modules read some variables at import), or a server
that is not (yet) up. `client` is what the `python` on the test commands' PATH runs; `serve` the server.
Only the standard library is imported here before `serve` starts: the client starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time

# What `import nlpzoo.training` costs a fresh interpreter, by import time (python -X importtime).
PREIMPORTS = ("torch", "lightning", "torchmetrics", "transformers", "datasets", "hydra", "omegaconf")
# Variables no pre-imported module reads at import: a command may differ from the server in these.
# (Lightning, Hydra and SLURM variables are read when a run starts; wandb and nlpzoo are not pre-imported.)
FREE_VARIABLES = ("PATH", "PWD", "OLDPWD", "SHLVL", "_", "PYTHONPATH", "COLUMNS", "LINES")
FREE_PREFIXES = ("PYTEST_", "PL_", "HYDRA_", "SLURM_", "WANDB_", "NLPZOO_")
FORWARDED_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
SOCKET_VARIABLE = "NLPZOO_PREWARMED_SOCKET"
SERVERS: list = []  # the servers this process started: they stop by themselves when it ends


def comparable(environment: dict[str, str]) -> dict[str, str]:
    """The variables that must match the server's for a fork to see what a fresh interpreter would."""
    return {
        key: value
        for key, value in environment.items()
        if key not in FREE_VARIABLES and not key.startswith(FREE_PREFIXES)
    }


def send_message(connection: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode() + b"\n"
    if fds:
        socket.send_fds(connection, [data], fds)
    else:
        connection.sendall(data)


def receive_message(
    connection: socket.socket, buffer: bytearray, with_fds: bool = False
) -> tuple[dict | None, list[int]]:
    """One newline-terminated JSON message (and the descriptors sent with it); None at end of stream."""
    fds: list[int] = []
    while b"\n" not in buffer:
        if with_fds:
            data, received, _, _ = socket.recv_fds(connection, 65536, 8)
            fds.extend(received)
        else:
            data = connection.recv(65536)
        if not data:
            return None, fds
        buffer.extend(data)
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return json.loads(line), fds


# ---------------------------------------------------------------------------------------------- client


def command_of(arguments: list[str]) -> dict | None:
    """`SCRIPT.py ARGS` or `-m MODULE ARGS` as the server runs it; None for anything else."""
    if arguments and arguments[0].endswith(".py") and not arguments[0].startswith("-"):
        return {"script": arguments[0], "argv": arguments}
    if len(arguments) >= 2 and arguments[0] == "-m" and not arguments[1].startswith("-"):
        return {"module": arguments[1], "argv": [arguments[1], *arguments[2:]]}
    return None


def exec_fresh(arguments: list[str]) -> None:
    """Replace this client by a real interpreter: what `python ARGS` would have been."""
    os.execv(sys.executable, [sys.executable, *arguments])


def client(arguments: list[str]) -> None:
    """Run `python ARGS` in a fork of the server when it can, else as a fresh interpreter; exit as it did."""
    command = command_of(arguments)
    path = os.environ.get(SOCKET_VARIABLE)
    if command is None or not path:
        exec_fresh(arguments)
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:
        exec_fresh(arguments)
    send_message(connection, {**command, "cwd": os.getcwd(), "env": dict(os.environ)}, [0, 1, 2])
    buffer = bytearray()
    reply, _ = receive_message(connection, buffer)
    if reply is None or "pid" not in reply:  # refused (another environment) or the server went away
        connection.close()
        exec_fresh(arguments)
    pid = reply["pid"]
    for number in FORWARDED_SIGNALS:  # kill CLIENT reaches the command; SIGKILL: the command sees us gone
        signal.signal(number, lambda received, _frame: os.kill(pid, received))
    result, _ = receive_message(connection, buffer)
    if result is None:
        print(f"prewarmed python: the server lost command {pid}", file=sys.stderr)
        sys.exit(1)
    if result.get("signal"):
        signal.signal(result["signal"], signal.SIG_DFL)
        os.kill(os.getpid(), result["signal"])
    sys.exit(result["code"])


# ---------------------------------------------------------------------------------------------- server


def single_threaded() -> bool:
    """A fork copies one thread: another Python thread could hold a lock the child then waits on forever.

    Native pools are remade in the child: torch's OpenMP workers (a 2-thread matmul in a fork of a process
    whose pool had run took 0.92 s against the parent's 1.06 s) and pyarrow's (it re-creates them after a fork).
    """
    import threading

    return threading.active_count() == 1


def run_command(request: dict, connection: socket.socket, fds: list[int], base_path: list[str]) -> None:
    """In the forked child: become `python ARGS` in the client's directory, environment and streams."""
    import atexit
    import runpy
    import threading
    import traceback

    for number in FORWARDED_SIGNALS:
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as a fresh interpreter: KeyboardInterrupt
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])

    def watch_client() -> None:  # the client killed (a timeout's SIGKILL): end the command with it
        while connection.recv(1):
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch_client, daemon=True).start()
    extra = [entry for entry in request["env"].get("PYTHONPATH", "").split(os.pathsep) if entry]
    sys.argv = list(request["argv"])
    code: int | str | None = 0
    try:
        if "script" in request:
            script = os.path.abspath(request["script"])
            sys.path[:] = [os.path.dirname(script), *extra, *base_path]
            runpy.run_path(script, run_name="__main__")
        else:
            sys.path[:] = [os.getcwd(), *extra, *base_path]
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = stop.code
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException:
        traceback.print_exc()
        code = 1
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]  # what interpreter exit does, in its order
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a stream the command closed
            stream.flush()
    if code == -signal.SIGINT:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code if isinstance(code, int) else 0)


def serve(path: str) -> None:
    """Import the stack once, then fork one child per request until the parent (the test worker) is gone."""
    import importlib
    import selectors

    own_environment = comparable(dict(os.environ))
    for name in PREIMPORTS:
        importlib.import_module(name)
    if not single_threaded():
        print("prewarmed python: imports started Python threads; commands run fresh", file=sys.stderr)
        return
    # Variables the imports set (Lightning: PYTORCH_NVML_BASED_CUDA_CHECK): a fresh interpreter sets them too.
    set_by_imports = {key: value for key, value in os.environ.items() if own_environment.get(key) != value}
    extra = {entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry}
    base_path = [entry for entry in sys.path[1:] if entry not in extra]  # without this file's directory
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(64)
    os.rename(path + ".tmp", path)  # clients see the socket only once it accepts
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    running: dict[int, socket.socket] = {}
    while os.getppid() == parent:
        for _ in selector.select(timeout=0.05):
            connection, _ = listener.accept()
            connection.settimeout(30)
            try:
                request, fds = receive_message(connection, bytearray(), with_fds=True)
            except (OSError, ValueError):
                connection.close()
                continue
            if request is None or len(fds) != 3 or comparable(request["env"]) != own_environment:
                for fd in fds:
                    os.close(fd)
                send_message(connection, {"refused": "environment"})
                connection.close()
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                listener.close()
                connection.settimeout(None)
                request["env"] = {**request["env"], **set_by_imports}
                run_command(request, connection, fds, base_path)
            for fd in fds:
                os.close(fd)
            running[pid] = connection
            send_message(connection, {"pid": pid})
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            connection = running.pop(pid, None)
            if connection is None:
                continue
            result = (
                {"code": 1, "signal": os.WTERMSIG(status)}
                if os.WIFSIGNALED(status)
                else {"code": os.WEXITSTATUS(status)}
            )
            with contextlib.suppress(OSError):  # the client is gone
                send_message(connection, result)
            connection.close()
    for pid in running:
        os.kill(pid, signal.SIGKILL)


def start(directory: str, timeout: float = 120.0) -> str:
    """Start a server for this process's environment and wait for it; the `python` to run commands with.

    Where the server does not come up, that `python` runs every command in a fresh interpreter."""
    import subprocess

    socket_path = os.path.join(directory, "prewarmed.sock")
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    os.environ[SOCKET_VARIABLE] = socket_path  # before the server copies the environment
    bin_directory = os.path.join(directory, "bin")
    os.makedirs(bin_directory, exist_ok=True)
    shim = os.path.join(bin_directory, "python")
    with open(shim, "w") as script:
        script.write(f'#!/bin/sh\nexec "{sys.executable}" -S "{os.path.abspath(__file__)}" client "$@"\n')
    os.chmod(shim, 0o755)
    with open(os.path.join(directory, "server.log"), "w") as log:
        server = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "serve", socket_path],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a test's signal to its process group does not reach the server
        )
    SERVERS.append(server)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not os.path.exists(socket_path) and server.poll() is None:
        time.sleep(0.1)
    return shim


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(sys.argv[2:])
    elif sys.argv[1] == "serve":
        serve(sys.argv[2])
