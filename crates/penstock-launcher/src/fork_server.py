# Penstock's warm interpreter for lightweight KFP components (embedded in penstock-launcher,
# see src/warm.rs). It imports the executor machinery once, then forks one child per task.
#
#   python -c SCRIPT SOCKET IDLE_SECONDS
#
# Protocol on a connection to SOCKET (a folder only the owner can enter):
#   client -> server: 16 ASCII digits (the body's length) carrying 3 fds by SCM_RIGHTS
#                     (stdin, stdout, stderr of the task), then a JSON body
#                     {"cwd": ..., "env": {...}, "source": ..., "args": [...]}
#   server -> client: lines "pid N" (right after the fork; N is also the process group),
#                     "exit N" or "signal N" when the task ended, or "error TEXT" when it could
#                     not start (before any of the component's code ran: run it cold instead).
# The child reports its own exit code too, so a task outlives a server killed from outside.
# The server exits when Penstock closes its stdin, or after IDLE_SECONDS with nothing to do.
import os
import sys

os.environ["_KFP_RUNTIME"] = "true"

import atexit  # noqa: E402
import json  # noqa: E402
import runpy  # noqa: E402
import selectors  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import kfp  # noqa: E402,F401
import kfp.dsl.executor  # noqa: E402,F401
import kfp.dsl.executor_main  # noqa: E402,F401

# What every task's executor_main does before the component's code runs, done once here so that
# the children inherit it: argparse's translations look up the locale (importing `locale`) and
# compile its patterns (kept in `re`'s cache). Nothing of the component's, nor logging, is set up.
import argparse  # noqa: E402
import locale  # noqa: E402,F401

_warm_parser = argparse.ArgumentParser(description="warm-up")
_warm_parser.add_argument("--executor_input", type=str)
_warm_parser.parse_known_args(["--executor_input", "{}", "--other", "x"])
del _warm_parser

SOCKET_PATH = sys.argv[1]
IDLE = float(sys.argv[2])

listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(SOCKET_PATH)
listener.listen(128)
wake_r, wake_w = socket.socketpair()
wake_r.setblocking(False)
wake_w.setblocking(False)
signal.set_wakeup_fd(wake_w.fileno())
signal.signal(signal.SIGCHLD, lambda *_: None)
sel = selectors.DefaultSelector()
sel.register(listener, selectors.EVENT_READ, "accept")
sel.register(wake_r, selectors.EVENT_READ, "wake")
sel.register(0, selectors.EVENT_READ, "parent")
children = {}


def send(conn, line):
    try:
        conn.sendall((line + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def exit_code_of(e):
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


def child(conn, fds, request):
    """Becomes the task: what `sh -ec '...python3 -m kfp.dsl.executor_main...'` would do."""
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setpgid(0, 0)
        sel.close()
        listener.close()
        wake_r.close()
        wake_w.close()
        for other in children.values():
            other.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ["_KFP_RUNTIME"] = "true"
        tempfile.tempdir = None
        program_path = tempfile.mkdtemp(prefix="tmp.")
        module_path = os.path.join(program_path, "ephemeral_component.py")
        with open(module_path, "w", encoding="utf-8") as f:
            f.write(request["source"])
        sys.argv = ["-m", "--component_module_path", module_path] + list(request["args"])
        sys.path[0] = os.getcwd()
        # Run as `python -m` does: fresh, not the copy imported to warm up.
        sys.modules.pop("kfp.dsl.executor_main", None)
    except BaseException as e:  # noqa: BLE001
        send(conn, f"error {type(e).__name__}: {e}".replace("\n", " "))
        os._exit(127)
    code = 0
    interrupted = False
    try:
        runpy.run_module("kfp.dsl.executor_main", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = exit_code_of(e)
    except KeyboardInterrupt:
        traceback.print_exc()
        interrupted = True
    except BaseException:  # noqa: BLE001
        kind, value, tb = sys.exc_info()
        sys.excepthook(kind, value, tb.tb_next if tb is not None else tb)
        code = 1
    for finish in (threading._shutdown, atexit._run_exitfuncs):
        try:
            finish()
        except BaseException:  # noqa: BLE001
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        code = 130
    send(conn, f"exit {code}")
    os._exit(code)


def recv_exact(conn, n, data=b""):
    while len(data) < n:
        more = conn.recv(min(1 << 20, n - len(data)))
        if not more:
            raise EOFError("connection closed early")
        data += more
    return data


def serve(conn):
    fds = []
    try:
        conn.settimeout(30)
        head, fds, _, _ = socket.recv_fds(conn, 16, 3)
        head = recv_exact(conn, 16, head)
        body = json.loads(recv_exact(conn, int(head.decode("ascii"))))
        if len(fds) != 3:
            raise ValueError(f"expected 3 file descriptors, got {len(fds)}")
    except Exception as e:  # noqa: BLE001
        for fd in fds:
            os.close(fd)
        send(conn, f"error {type(e).__name__}: {e}".replace("\n", " "))
        conn.close()
        return
    conn.settimeout(None)
    pid = os.fork()
    if pid == 0:
        child(conn, fds, body)
    for fd in fds:
        os.close(fd)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    children[pid] = conn
    send(conn, f"pid {pid}")


def reap():
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is None:
            continue
        if os.WIFSIGNALED(status):
            send(conn, f"signal {os.WTERMSIG(status)}")
        else:
            send(conn, f"exit {os.waitstatus_to_exitcode(status)}")
        conn.close()


def shutdown():
    try:
        os.unlink(SOCKET_PATH)
        os.rmdir(os.path.dirname(SOCKET_PATH))
    except OSError:
        pass
    os._exit(0)


print("ready", flush=True)
devnull = os.open(os.devnull, os.O_RDWR)
os.dup2(devnull, 1)
last = time.monotonic()
while True:
    timeout = None if children else max(0.0, last + IDLE - time.monotonic())
    events = sel.select(timeout)
    if not events and not children and time.monotonic() - last >= IDLE:
        shutdown()
    for key, _ in events:
        if key.data == "accept":
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            last = time.monotonic()
            serve(conn)
        elif key.data == "wake":
            try:
                while wake_r.recv(512):
                    pass
            except OSError:
                pass
        elif key.data == "parent":
            if not os.read(0, 512):
                shutdown()
    reap()
    if children:
        last = time.monotonic()
