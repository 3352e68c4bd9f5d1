"""Python processes started from a warm interpreter: torch already imported, so a process begins at once.

Importing torch takes about two seconds of CPU on a small machine, and every trainer process pays it before
its first batch. A sweep starts one process per trial, and the test suite starts hundreds. `Warm` keeps one
interpreter that has imported torch and nothing else (no computation, no CUDA) waiting on a
socket; each start forks it, and the child becomes the program asked for, as `python -m MOD ...`,
`python -c CODE ...` or `python SCRIPT ...` would: its own argv, environment, working directory, standard
streams and descriptors (at the numbers given), its own session if asked, `__main__` fresh, and Python's
own signal handling (Ctrl-C is a KeyboardInterrupt).

`WarmPopen` is a `subprocess.Popen` whose child comes from there: pipes, `communicate`, `wait`, `poll`,
`send_signal` and `kill` work as usual. The child is the warm interpreter's, not the caller's, so its exit
status comes back over a socket of its own. If the warm interpreter goes away first, its children go on (as
any orphan does) and their status reads as unknown (255) once they have ended.
"""

from __future__ import annotations

import errno
import json
import os
import runpy
import signal
import socket
import secrets
import subprocess
import sys
import threading
import time

PRELOAD = ("torch", "trainers.train.loop", "trainers.train.prepare", "trainers.runs")
MAX_FDS = 64
AT_START = ("PYTHON", "OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_", "LD_", "LC_", "MALLOC_")
AT_START_KEYS = ("LANG", "TZ")
SET_IN_CHILD = ("PYTHONPATH", "PYTHONUNBUFFERED")  # a child takes these from its own environment
ENV = "WORKBENCH_WARM"  # the address of a warm interpreter this process may start its Python processes from
UNKNOWN = 255  # the status of a child whose warm interpreter went away before it ended (ssh's for a lost link)


class Gone(OSError):
    """The warm interpreter another process shared is not there (any more)."""


class Unsuited(OSError):
    """The warm interpreter a start fell back to differs from the child in what is read at start."""


class Warm:
    """One warm interpreter, started at the first `start` and ended by `close` (or by this process ending).

    Shared: a `Warm(listen=True)` also takes requests from the same user's other processes; `share()` gives
    its address (for `$WORKBENCH_WARM`: its name, pid and a secret, so keep it in environments only). A
    `Warm(address=...)` forks its children there while it is there, then starts its own (`fallback`) or
    raises `Gone`; `shared()` and `popen()` are that for the address a process above this one shared."""

    def __init__(self, preload: tuple[str, ...] = PRELOAD, address: str | None = None, *, listen: bool = False,
                 fallback: bool = True) -> None:
        self.preload = preload
        self.server: subprocess.Popen | None = None
        self.control: socket.socket | None = None
        self.lock = threading.Lock()
        self.theirs = address  # another process's warm interpreter, tried before starting one
        self.listen = listen
        self.fallback = fallback
        self.address: str | None = None  # this one's, while it runs and listens
        self.hello: dict | None = None  # what its children have from it: the environment read at start, settings

    def _serve(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener, name = _bind() if self.listen else (None, "")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        passed = [theirs.fileno(), *([listener.fileno()] if listener else [])]
        # its own session, and quiet: a Ctrl-C or hangup at the starter's terminal is not for it (it ends when
        # its starter goes away), and nothing it might say belongs on that terminal
        try:
            self.server = subprocess.Popen(
                [sys.executable, "-c", "import sys; from trainers.warm import serve; serve(sys.argv[1:])",
                 str(theirs.fileno()), str(listener.fileno()) if listener else "-", *self.preload],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=passed, env=env, start_new_session=True)
        finally:
            theirs.close()
            if listener is not None:
                listener.close()  # the warm interpreter's now: its name bound before it started, so no one can take it
        token = secrets.token_hex(16)
        mine.send(token.encode())  # a client proves it had the address by sending this first
        if listener is not None:  # it listens before its imports: its address answers once this returns
            mine.settimeout(60)
            try:
                mine.recv(16)
            except OSError:
                pass  # it will be found gone when asked to start something
            mine.settimeout(None)
        self.control, self.hello = mine, None
        self.address = f"{name} {self.server.pid} {token}" if listener else None

    def _connect(self) -> bool:
        """Use the warm interpreter at `self.theirs`, if it is there and is the one named; False if not."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            name, pid, token = self.theirs.split()
            sock.settimeout(120)  # it greets once it has imported torch
            sock.connect("\0" + name)
            # this user's, and the process named: another could have the name once it is free, and would see
            # this process's environment and descriptors
            if _peer(sock) != (int(pid), os.getuid()):
                raise OSError("not the warm interpreter named")
            sock.send(token.encode())
            hello = json.loads(sock.recv(1 << 20) or b"null")
            if not isinstance(hello, dict) or not isinstance(hello.get("env"), dict):
                raise OSError("no greeting")
            sock.settimeout(None)
        except (OSError, ValueError):
            sock.close()
            return False
        self.control, self.hello = sock, hello
        return True

    def _ensure(self) -> None:
        """Connected to a warm interpreter: another process's if it is there, else this one's own (or Gone)."""
        if self.control is not None and (self.server is None or self.server.poll() is None):
            if self.hello is None:  # its greeting comes once it has imported
                self.control.settimeout(300)
                try:
                    self.hello = json.loads(self.control.recv(1 << 20) or b"null")
                except (OSError, ValueError):
                    self.hello = None
                if not isinstance(self.hello, dict):  # it died at its imports: say so, rather than start another
                    self._drop()
                    raise Gone("the warm interpreter ended before it was ready")
                self.control.settimeout(None)
            return
        self._drop()
        if self.theirs and self._connect():
            return
        self.theirs = None
        if not self.fallback:
            raise Gone("the shared warm interpreter is not there")
        self._serve()
        self._ensure()

    def _drop(self) -> None:
        if self.control is not None:
            self.control.close()
        if self.server is not None and self.server.poll() is None:
            self.server.kill()
            self.server.wait()
        self.control = self.server = self.hello = self.address = None

    def share(self) -> str:
        """Start it now (`listen=True`) and return its address, for `$WORKBENCH_WARM` in the environment of
        the processes that will use it. Only the same user's processes, told the address, are served."""
        if not self.listen:
            raise ValueError("only a Warm(listen=True) can be shared")
        with self.lock:
            if self.control is None or self.server is None or self.server.poll() is not None:
                self._drop()
                self._serve()
            return self.address

    def suits(self, env: dict) -> bool:
        """Whether a child with `env` can come from here: what an interpreter or its libraries read once, at
        start or at load (threads, hashing, warnings, encodings, locale, the dynamic loader), and what a
        process inherits (this Python and checkout, user, groups, umask, open-file limit, cgroup), must be
        the warm interpreter's too. Raises Gone where a shared one is gone and there is no fallback."""
        with self.lock:
            self._ensure()
            return self._suits(env)

    def _suits(self, env: dict) -> bool:
        mine = self.hello["env"]
        return self.hello.get("facts") == _facts() and all(
            mine.get(key) == env.get(key) for key in {*mine, *env} if _at_start(key) and key not in SET_IN_CHILD)

    def start(self, argv: list[str], fds: dict[int, int], env: dict, cwd: str, new_session: bool = False,
              terminal: bool = False) -> tuple[int, socket.socket]:
        """Fork a child running `argv` (`[python, -m|-c|SCRIPT, ...]`) with descriptor `fds[n]` as its `n`;
        returns its pid and the socket its exit status will come on. Raises Gone, or Unsuited where the
        interpreter it fell back to does not suit `env`: start the process as Popen does then."""
        program = _program(argv)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        order = sorted(fds)
        request = json.dumps({"program": program, "fds": order, "env": dict(env), "cwd": cwd,
                              "session": new_session, "terminal": terminal}).encode()
        try:
            with self.lock:
                for attempt in (0, 1):
                    self._ensure()
                    if attempt and not self._suits(env):
                        raise Unsuited("the warm interpreter fallen back to differs")
                    try:
                        socket.send_fds(self.control, [request], [theirs.fileno(), *(fds[n] for n in order)])
                        break
                    except (BrokenPipeError, ConnectionResetError, OSError) as err:
                        gone = isinstance(err, (BrokenPipeError, ConnectionResetError)) or \
                            (self.server is not None and self.server.poll() is not None)
                        if attempt or not gone:
                            raise  # a bad descriptor or a request too big: not the warm interpreter's fault
                        # it went away: another (this process's own, where it may), then give up
                        self._drop()
                        self.theirs = None
                shared = self.server is None
            theirs.close()
            mine.settimeout(300)  # its first start waits for torch's import
            reply = json.loads(mine.recv(4096) or b"{}")
            mine.settimeout(None)
        except BaseException:
            mine.close()
            theirs.close()
            raise
        if "pid" not in reply:
            mine.close()
            if shared and not reply:  # it went away with the request: nothing was started
                raise Gone("the shared warm interpreter ended before it could start the process")
            raise OSError(reply.get("error") or "the warm interpreter ended before it could start the process")
        return reply["pid"], mine

    def close(self) -> None:
        """End the warm interpreter (its children go on, their status unknown to any process still waiting on
        one); another process's goes on, only unused from here."""
        with self.lock:
            if self.control is not None:
                self.control.close()
                self.control = None
            if self.server is not None:
                try:
                    self.server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.server.kill()
                    self.server.wait()
                self.server = None
            self.hello = self.address = None


def _bind() -> tuple[socket.socket, str]:
    """A listening socket at a fresh name in the abstract namespace (where any user may connect: the warm
    interpreter checks who), and its name."""
    while True:
        name = f"workbench-warm-{os.getpid()}-{secrets.token_hex(8)}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.bind("\0" + name)
        except OSError as err:
            sock.close()
            if err.errno == errno.EADDRINUSE:
                continue
            raise
        return sock, name


def _facts() -> dict:
    """What a child forked from an interpreter has from it, beyond the environment and descriptors it is
    given: its Python and checkout, user and groups, umask, open-file limit and cgroup."""
    import resource

    def read(path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    umask = next((line.split()[1] for line in read("/proc/self/status").splitlines() if line.startswith("Umask:")), "")
    return {"python": os.path.realpath(sys.executable), "root": os.path.dirname(os.path.abspath(__file__)),
            "uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups()), "umask": umask,
            "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)), "cgroup": read("/proc/self/cgroup")}


def _at_start(key: str) -> bool:
    return key.startswith(AT_START) or key in AT_START_KEYS


def _peer(sock: socket.socket) -> tuple[int, int]:
    """The (pid, uid) of the process at the other end of a unix socket."""
    import struct

    pid, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return pid, uid


_SHARED: dict[str, Warm] = {}  # address -> a connection to it, this process's
_SHARED_LOCK = threading.Lock()


def shared() -> Warm | None:
    """The warm interpreter named by `$WORKBENCH_WARM` (a process above this one shared it), or None where
    none is named or it is gone: callers then start their processes as Popen does."""
    address = os.environ.get(ENV)
    if not address:
        return None
    with _SHARED_LOCK:
        warm = _SHARED.get(address)
        if warm is None:
            warm = _SHARED[address] = Warm(address=address, fallback=False)
        with warm.lock:
            if warm.control is None and not (warm.theirs and warm._connect()):
                warm.theirs = None  # gone for good: its name is never used again
                return None
        return warm


def popen(args, warm: Warm | None = None, **kwargs) -> subprocess.Popen:
    """`subprocess.Popen(args, **kwargs)` for `[sys.executable, ...]`, forked from `warm` or else the shared
    warm interpreter where there is one."""
    warm = warm or shared()
    if warm is None:
        return subprocess.Popen(args, **kwargs)
    return WarmPopen(args, warm=warm, **kwargs)


def _program(argv: list[str]) -> list[str]:
    """`[python, -m, MOD, ...]` -> `[-m, MOD, ...]`; the same for -c and a script. Anything else is refused."""
    if not argv or os.path.realpath(argv[0]) != os.path.realpath(sys.executable):
        raise ValueError(f"a warm interpreter runs this Python ({sys.executable}), not {argv[:1]}")
    rest = list(argv[1:])
    if rest[:1] in (["-m"], ["-c"]) and len(rest) >= 2:
        return rest
    if rest and not rest[0].startswith("-"):
        return rest
    raise ValueError(f"a warm interpreter runs -m MODULE, -c CODE or a script, not {rest[:2]}")


class WarmPopen(subprocess.Popen):
    """`subprocess.Popen(args, ..., warm=Warm(), terminal=False)`, its child forked from `warm`. `terminal`:
    the child's stdin (a terminal) becomes its controlling terminal, as a login shell's job; with
    `start_new_session`. `preexec_fn`, `shell`, `executable`, users, groups and umask are not supported."""

    def __init__(self, args, *, warm: Warm, terminal: bool = False, **kwargs) -> None:
        self._warm = warm
        self._terminal = terminal
        self._status: socket.socket | None = None
        self._ended: int | None = None  # its wait status, once read
        self._cold = False  # started as Popen starts a process (its settings read at start differ)
        super().__init__(args, **kwargs)

    def _execute_child(self, args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo,
                       creationflags, shell, p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite,
                       restore_signals, gid, gids, uid, umask, start_new_session, *rest) -> None:
        if preexec_fn or shell or executable or gid is not None or gids or uid is not None or umask >= 0 or \
                any(r not in (None, -1) for r in rest):
            raise ValueError("a warm process takes no preexec_fn, shell, executable, user, group, umask or "
                             "process group")
        if isinstance(args, (str, bytes)):
            args = [args]
        env = dict(os.environ if env is None else env)

        def cold():  # a fresh interpreter, as Popen starts it
            self._cold = True
            become_terminal = _controlling_terminal if self._terminal else None
            return super(WarmPopen, self)._execute_child(
                args, executable, become_terminal, close_fds, pass_fds, cwd, env, startupinfo, creationflags, shell,
                p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite, restore_signals, gid, gids, uid, umask,
                start_new_session, *rest)

        try:
            suited = self._warm.suits(env)
        except Gone:
            suited = False
        if not suited:  # a setting read at start differs, or a shared warm interpreter is gone
            return cold()
        if cwd is not None and not os.path.isdir(cwd):
            self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)
            raise FileNotFoundError(2, "No such file or directory", os.fspath(cwd))
        fds = {0: p2cread if p2cread != -1 else 0, 1: c2pwrite if c2pwrite != -1 else 1,
               2: errwrite if errwrite != -1 else 2}
        fds.update({int(fd): int(fd) for fd in pass_fds})
        try:
            self.pid, self._status = self._warm.start([os.fspath(a) for a in args], fds, env,
                                                      os.fspath(cwd) if cwd is not None else os.getcwd(),
                                                      new_session=start_new_session, terminal=self._terminal)
        except (Gone, Unsuited):
            return cold()
        except BaseException:
            self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)
            raise
        self._child_created = True
        self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)

    def _try_wait(self, wait_flags):
        """(pid, wait status) once the child has ended, (0, 0) while it runs: from its status socket."""
        if self._cold:
            return super()._try_wait(wait_flags)
        if self._status is not None:
            self._status.setblocking(not wait_flags & os.WNOHANG)
            try:
                data = self._status.recv(4096)
            except (BlockingIOError, InterruptedError):
                return 0, 0
            if not data:  # the warm interpreter went away first: the child is an orphan; wait for it to go
                while _alive(self.pid):
                    if wait_flags & os.WNOHANG:
                        return 0, 0
                    time.sleep(0.05)
            self._status.close()
            self._status = None
            self._ended = json.loads(data)["status"] if data else None
        return self.pid, 0 if self._ended is None else self._ended

    def _internal_poll(self, _deadstate=None, **_unused):
        if self._cold:
            return super()._internal_poll(_deadstate)
        if self.returncode is None and self._waitpid_lock.acquire(False):
            try:
                if self.returncode is None:
                    pid, status = self._try_wait(os.WNOHANG)
                    if pid == self.pid:
                        self._handle_exitstatus(status)
            except OSError:
                if _deadstate is not None:
                    self.returncode = _deadstate
            finally:
                self._waitpid_lock.release()
        return self.returncode

    def _handle_exitstatus(self, sts, *args, **kwargs):
        super()._handle_exitstatus(sts, *args, **kwargs)
        if self._ended is None and not self._cold:
            self.returncode = UNKNOWN


def _controlling_terminal() -> None:
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- the warm interpreter -------------------------------------------------------------------------------

def serve(argv: list[str]) -> None:
    """`python -c '...serve(sys.argv[1:])' FD LISTENER|- MODULE...`: import the modules, then fork a child for
    each request on socket FD, or on a connection to the listening socket LISTENER from a process of this user
    that sends the secret the starter sent first on FD; send each child's wait status on its own socket when
    it ends. Ends when FD's other end closes. In a child, returns into the program asked for (and never
    comes back)."""
    import hmac
    import importlib
    import selectors

    control = socket.socket(fileno=int(argv[0]))
    listener = socket.socket(fileno=int(argv[1])) if argv[1] != "-" else None
    token = control.recv(64)
    if listener is not None:  # listening here, not in the starter: a client sees this process at the other end
        listener.listen(64)
        control.send(b"listening")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # its children get an interpreter's own, below
    for name in argv[2:]:
        importlib.import_module(name)
    import gc

    gc.freeze()  # what was imported stays shared with every child: no collection walks (and copies) it
    hello = json.dumps({"env": {key: value for key, value in os.environ.items() if _at_start(key)},
                        "facts": _facts()}).encode()
    control.send(hello)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    children: dict[int, socket.socket] = {}
    waiting: set[socket.socket] = set()  # connected, not yet proved they were told the address
    clients: set[socket.socket] = set()
    watch = selectors.DefaultSelector()
    for sock in (control, wake_r, *([listener] if listener else [])):
        watch.register(sock, selectors.EVENT_READ)

    def drop(sock: socket.socket) -> None:
        watch.unregister(sock)
        waiting.discard(sock)
        clients.discard(sock)
        sock.close()

    def child_closes() -> list[int]:
        return [watch.fileno(), wake_r, wake_w, control.fileno(), *([listener.fileno()] if listener else []),
                *(c.fileno() for c in (*waiting, *clients)), *(c.fileno() for c in children.values())]

    while True:
        ready = [key.fileobj for key, _ in watch.select()]
        if wake_r in ready:
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
            _reap(children)
        if listener is not None and listener in ready:
            try:
                client, _ = listener.accept()
            except OSError:  # out of descriptors, say: try again shortly rather than spin
                time.sleep(0.1)
                client = None
            if client is not None:
                if _peer(client)[1] == os.getuid():
                    client.setblocking(False)
                    waiting.add(client)
                    watch.register(client, selectors.EVENT_READ)
                else:  # another user's: a child runs whatever it is sent
                    client.close()
        for sock in [s for s in ready if s in waiting]:
            try:
                said = sock.recv(64)
            except OSError:
                said = b""
            if said and hmac.compare_digest(said, token) and _tell(sock, hello, raw=True):
                sock.setblocking(True)
                waiting.discard(sock)
                clients.add(sock)
            else:
                drop(sock)
        ended = False
        for sock in [s for s in ready if s is control or s in clients]:
            try:
                data, fds, flags, _ = socket.recv_fds(sock, 1 << 20, MAX_FDS)
            except InterruptedError:
                continue
            except OSError:
                data, fds, flags = b"", [], 0
            if not data:
                if sock is control:  # the starter went away; the children go on (after this round's requests)
                    ended = True
                else:
                    drop(sock)
                for fd in fds:
                    os.close(fd)
                continue
            try:
                request = json.loads(data)
                if flags & socket.MSG_CTRUNC or not fds or not isinstance(request, dict) or \
                        len(request.get("fds", ())) != len(fds) - 1:
                    raise ValueError("a request without its descriptors")
                status = socket.socket(fileno=fds[0])
            except (ValueError, TypeError, OSError):  # not a request from trainers.warm: its sender is dropped
                for fd in fds:
                    os.close(fd)
                if sock is not control:
                    drop(sock)
                continue
            given = fds[1:]
            try:
                pid = os.fork()
            except OSError as err:
                _tell(status, {"error": f"cannot start a process: {err}"})
                status.close()
                pid = None
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                # an interpreter's own signal handling, whatever the starter had ignored when this one began
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGQUIT, signal.SIG_DFL)
                for fd in child_closes():
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                status.close()
                _become(request, dict(zip(request["fds"], given)))
                return  # never reached: _become exits
            for fd in given:
                os.close(fd)
            if pid is not None:
                if _tell(status, {"pid": pid}):
                    children[pid] = status
                else:  # its starter gave up waiting: no one knows of this process, so it must not run
                    os.kill(pid, signal.SIGKILL)
                    status.close()
            _reap(children)
        if ended:
            return


def _reap(children: dict) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock = children.pop(pid, None)
        if sock is not None:
            _tell(sock, {"status": status})
            sock.close()


def _tell(sock: socket.socket, message, raw: bool = False) -> bool:
    try:
        sock.send(message if raw else json.dumps(message).encode())
        return True
    except OSError:  # the starter went away or gave up: nothing to tell
        return False


def _become(request: dict, fds: dict[int, int]) -> None:
    """In the forked child: set up its session, descriptors, environment and streams, run the program as
    `python` would, and exit with its status."""
    import fcntl
    import types

    if request["session"]:
        os.setsid()
    # the given descriptors to their numbers, through numbers above them all so none overwrites another
    top = max([*fds, *fds.values()]) + 1
    high = {n: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, top) for n, fd in fds.items()}
    for fd in set(fds.values()):
        os.close(fd)
    for n, fd in high.items():
        os.dup2(fd, n)
    for fd in set(high.values()):
        os.close(fd)
    for name in os.listdir("/proc/self/fd"):  # as Popen's close_fds: only the descriptors asked for
        fd = int(name)
        if fd not in fds:
            try:
                os.close(fd)
            except OSError:
                pass
    if request["terminal"]:
        import termios

        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    os.chdir(request["cwd"])
    env = request["env"]
    os.environ.clear()
    os.environ.update(env)
    for entry in reversed([p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]):
        if entry not in sys.path:
            sys.path.insert(1, entry)
    if "numpy" in sys.modules:  # its global generator was seeded once, in the warm interpreter
        sys.modules["numpy"].random.seed()
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    sys.stdin = sys.__stdin__ = _stream(0, "r", False)
    sys.stdout = sys.__stdout__ = _stream(1, "w", unbuffered)
    sys.stderr = sys.__stderr__ = _stream(2, "w", unbuffered, errors="backslashreplace", line=True)
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    try:
        _run(request["program"], main)
        code = 0
    except SystemExit as exit_:  # as the interpreter reads sys.exit's argument
        code = exit_.code
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt as err:
        _print(err)
        _leave(None)
    except BaseException as err:
        _print(err)
        code = 1
    _leave(code)


def _print(err: BaseException) -> None:
    """An uncaught exception, printed as the interpreter prints it, without this module's frames."""
    tb = err.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    sys.excepthook(type(err), err.with_traceback(tb), tb)


def _leave(code: int | None) -> None:
    """End as the interpreter ends (threads joined, atexit run, streams flushed), less its teardown of every
    module: with torch loaded that takes most of a second, and no program sees it. `None`: by SIGINT, as an
    uncaught KeyboardInterrupt ends."""
    import atexit
    import threading

    threading._shutdown()
    atexit._run_exitfuncs()
    _flush_files()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            code = 120 if code == 0 else code  # as the interpreter does when stdout cannot be flushed
    if code is None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code & 0xFF)


def _flush_files() -> None:
    """Files the program left open are flushed, as the teardown's closing them would."""
    import gc
    import io

    for thing in gc.get_objects():
        if isinstance(thing, io.IOBase) and thing not in (sys.stdout, sys.stderr):
            try:
                if not thing.closed and thing.writable():
                    thing.flush()
            except (OSError, ValueError):
                pass


def _run(program: list[str], main) -> None:
    if program[0] == "-m":
        sys.argv = ["-m", *program[2:]]
        sys.path[0] = os.getcwd()
        runpy._run_module_as_main(program[1])
    elif program[0] == "-c":
        sys.argv = ["-c", *program[2:]]
        sys.path[0] = ""
        exec(compile(program[1], "<string>", "exec"), main.__dict__)
    else:
        if not os.path.exists(program[0]):  # as the interpreter says it
            print(f"{sys.executable}: can't open file {os.path.abspath(program[0])!r}: [Errno 2] No such file or "
                  f"directory", file=sys.stderr)
            raise SystemExit(2)
        sys.argv = list(program)
        sys.path[0] = os.path.dirname(os.path.abspath(program[0]))
        runpy.run_path(program[0], run_name="__main__")


def _stream(fd: int, mode: str, unbuffered: bool, errors: str = "strict", line: bool = False):
    """A standard stream on `fd`, as the interpreter makes it at start: line buffered on a terminal."""
    import io

    try:
        tty = os.isatty(fd)
        raw = io.FileIO(fd, mode, closefd=False)
    except OSError:
        return None
    if mode == "r":
        return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", errors="strict", line_buffering=tty)
    buffered = io.BufferedWriter(raw)
    return io.TextIOWrapper(buffered, encoding="utf-8", errors=errors, line_buffering=line or tty,
                            write_through=unbuffered)
