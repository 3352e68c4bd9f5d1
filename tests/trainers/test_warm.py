"""A process forked from the warm interpreter is the program it was asked to be, as `python ...` would start it:
argv, environment, working directory, streams, descriptors, session, terminal, exit status, signals."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from trainers.warm import ENV, UNKNOWN, Warm, WarmPopen, shared


@pytest.fixture
def warm():
    """This test process's shared warm interpreter (tests/conftest.py), reached by its address."""
    warm = Warm(preload=("torch",), address=os.environ.get(ENV))
    yield warm
    warm.close()


@pytest.fixture
def own():
    """A warm interpreter of the test's own, to look into or to end."""
    warm = Warm(preload=("torch",))
    yield warm
    warm.close()


def test_a_module_gets_its_argv_environment_folder_and_streams(warm, tmp_path, monkeypatch):
    monkeypatch.setenv("PROBE", "in the starter's environment, not the child's")  # before the warm one starts
    code = ("import os, sys, torch; print(sys.argv, os.getcwd(), os.environ['ASKED'], 'PROBE' in os.environ); "
            "print('to stderr', file=sys.stderr); print(sys.stdin.read().upper()); sys.exit(3)")
    child = WarmPopen([sys.executable, "-c", code, "one", "two"], warm=warm, cwd=tmp_path, text=True,
                      env={"ASKED": "yes", "PATH": os.environ["PATH"]}, stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = child.communicate("shout", timeout=120)
    assert out.splitlines() == [f"['-c', 'one', 'two'] {tmp_path} yes False", "SHOUT"]
    assert err == "to stderr\n" and child.returncode == 3


def test_python_m_runs_the_module_as_main_and_a_failure_reads_as_the_interpreters(warm, tmp_path):
    script = tmp_path / "boom.py"
    script.write_text("import sys\nprint(__name__, sys.argv)\nraise KeyError('lost')\n")
    child = WarmPopen([sys.executable, str(script), "x"], warm=warm, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                      text=True)
    out, err = child.communicate(timeout=120)
    assert out == f"__main__ ['{script}', 'x']\n" and child.returncode == 1
    assert err.startswith("Traceback") and err.endswith("KeyError: 'lost'\n") and "warm.py" not in err
    (tmp_path / "probe_module.py").write_text("import sys\nprint(__name__, sys.argv, sys.path[0])\n")
    module = WarmPopen([sys.executable, "-m", "probe_module", "y"], warm=warm, cwd=tmp_path, stdout=subprocess.PIPE,
                       text=True)
    assert module.communicate(timeout=60)[0] == f"__main__ ['{tmp_path / 'probe_module.py'}', 'y'] {tmp_path}\n"
    missing = WarmPopen([sys.executable, str(tmp_path / "nope.py")], warm=warm, stderr=subprocess.PIPE, text=True)
    assert missing.communicate(timeout=60)[1].endswith("No such file or directory\n") and missing.returncode == 2


def test_descriptors_keep_their_numbers_and_no_other_is_inherited(warm):
    read, write = os.pipe()
    os.dup2(write, 41)
    os.close(write)
    stray = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(stray, True)
    try:
        code = "import os; os.write(41, b'on 41'); print(sorted(int(f) for f in os.listdir('/proc/self/fd')))"
        child = WarmPopen([sys.executable, "-c", code], warm=warm, pass_fds=(41,), stdout=subprocess.PIPE, text=True)
        out, _ = child.communicate(timeout=120)
        os.close(41)
        assert os.read(read, 100) == b"on 41"
        assert eval(out) == [0, 1, 2, 3, 41]  # 3: the listing's own
    finally:
        os.close(read)
        os.close(stray)


def test_a_locked_descriptor_passed_to_a_child_is_held_by_it_alone(warm, tmp_path):
    """As a run folder's lock is handed to its trainer: free again once the child has ended, so the warm
    interpreter keeps no copy."""
    import fcntl

    lock = os.open(tmp_path / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    os.dup2(lock, 42)
    os.close(lock)
    child = WarmPopen([sys.executable, "-c", "import sys; sys.stdin.read()"], warm=warm, pass_fds=(42,),
                      stdin=subprocess.PIPE)
    os.close(42)  # handed over
    probe = os.open(tmp_path / ".lock", os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the child holds it
        child.communicate(b"", timeout=60)
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # and no one else did
    finally:
        os.close(probe)


def test_a_setting_read_at_start_that_differs_starts_a_fresh_interpreter(warm):
    code = "import torch; print(torch.get_num_threads())"
    one = WarmPopen([sys.executable, "-c", code], warm=warm, env={**os.environ, "OMP_NUM_THREADS": "1"},
                    stdout=subprocess.PIPE, text=True)
    assert one.communicate(timeout=120)[0] == "1\n" and one.returncode == 0


def test_the_warm_interpreter_is_in_a_session_of_its_own_out_of_the_terminals_reach(own):
    WarmPopen([sys.executable, "-c", "pass"], warm=own).wait(timeout=120)
    assert os.getsid(own.server.pid) == own.server.pid  # no Ctrl-C or hangup meant for its starter reaches it


def test_a_new_session_with_a_terminal_is_hung_up_when_the_terminal_goes(warm):
    master, slave = os.openpty()
    code = ("import os, signal, sys, time; signal.signal(signal.SIGHUP, lambda *_: sys.exit(7)); "
            "print(os.getsid(0) == os.getpid(), os.isatty(1), flush=True); time.sleep(60)")
    child = WarmPopen([sys.executable, "-c", code], warm=warm, stdin=slave, stdout=slave, stderr=slave,
                      start_new_session=True, terminal=True)
    os.close(slave)
    seen = b""
    while b"\n" not in seen:
        seen += os.read(master, 100)
    assert seen.split() == [b"True", b"True"]
    os.close(master)  # the terminal goes: its session's leader is hung up
    assert child.wait(timeout=30) == 7


def test_signals_wait_poll_and_timeouts_are_popens(warm):
    child = WarmPopen([sys.executable, "-c", "import time; time.sleep(60)"], warm=warm)
    assert child.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(timeout=0.2)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == -signal.SIGTERM
    interrupted = WarmPopen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(60)"],
                            warm=warm, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert interrupted.stdout.readline() == "ready\n"
    interrupted.send_signal(signal.SIGINT)  # Python's own KeyboardInterrupt, as in any interpreter
    _, err = interrupted.communicate(timeout=30)
    assert interrupted.returncode == -signal.SIGINT and "KeyboardInterrupt" in err


def test_children_outlive_the_warm_interpreter_and_end_with_an_unknown_status(own):
    warm = own
    child = WarmPopen([sys.executable, "-c", "import time; time.sleep(60)"], warm=warm, start_new_session=True)
    warm.close()
    time.sleep(0.2)
    assert child.poll() is None  # still running, an orphan now
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == UNKNOWN
    again = WarmPopen([sys.executable, "-c", "pass"], warm=warm)  # a fresh warm interpreter for the next
    assert again.wait(timeout=120) == 0


def test_only_this_python_is_started_warm(warm):
    with pytest.raises(ValueError, match="warm interpreter runs"):
        WarmPopen(["bash", "-c", "true"], warm=warm)
    with pytest.raises(ValueError, match="warm interpreter runs"):
        WarmPopen([sys.executable, "-X", "importtime", "-c", "pass"], warm=warm)
    with pytest.raises(ValueError, match="no preexec_fn"):
        WarmPopen([sys.executable, "-c", "pass"], warm=warm, preexec_fn=lambda: None)


def test_a_file_left_open_keeps_what_was_written_to_it(warm, tmp_path):
    """The child ends without the interpreter's teardown (most of a second with torch), but what a program
    wrote to a file it never closed still reaches the file, as the teardown's closing it would."""
    code = f"f = open({str(tmp_path / 'left-open.txt')!r}, 'w'); f.write('every byte')"
    assert WarmPopen([sys.executable, "-c", code], warm=warm).wait(timeout=120) == 0
    assert (tmp_path / "left-open.txt").read_text() == "every byte"


PARENT = "import os; print(os.getppid())"


@pytest.fixture
def sharing():
    warm = Warm(preload=("torch",), listen=True)
    yield warm
    warm.close()


def test_a_shared_warm_interpreter_starts_the_children_of_the_processes_under_it(sharing, monkeypatch):
    """What the tests do for every trainer a command or the app starts: $WORKBENCH_WARM names one warm
    interpreter, and a process that inherits it forks its children there instead of importing torch again."""
    address = sharing.share()
    other = Warm(address=address)
    child = WarmPopen([sys.executable, "-c", PARENT], warm=other, stdout=subprocess.PIPE, text=True)
    assert child.communicate(timeout=120)[0] == f"{sharing.server.pid}\n" and other.server is None
    # a fresh interpreter below this one, told the address, does the same through trainers.warm.popen
    code = ("import subprocess, sys; from trainers.warm import popen; "
            "print(popen([sys.executable, '-c', sys.argv[1]], stdout=subprocess.PIPE, text=True).communicate()[0], "
            "end='')")
    below = subprocess.run([sys.executable, "-c", code, PARENT], env={**os.environ, ENV: address},
                           capture_output=True, text=True, timeout=120)
    assert below.stdout == f"{sharing.server.pid}\n", below.stderr
    # once it is gone: shared() names none (callers start processes as Popen does), and a Warm starts its own
    server = sharing.server.pid
    sharing.close()
    monkeypatch.setenv(ENV, address)
    assert shared() is None
    again = WarmPopen([sys.executable, "-c", PARENT], warm=other, stdout=subprocess.PIPE, text=True)
    assert again.communicate(timeout=120)[0] == f"{other.server.pid}\n" and other.server.pid != server
    other.close()
    # and a process that may not start one of its own starts the child as Popen does, from itself
    alone = WarmPopen([sys.executable, "-c", PARENT], warm=Warm(address=address, fallback=False),
                      stdout=subprocess.PIPE, text=True)
    assert alone.communicate(timeout=120)[0] == f"{os.getpid()}\n"


def test_a_request_that_is_not_one_does_not_end_a_shared_warm_interpreter(sharing):
    address = sharing.share()
    name, _, token = address.split()
    running = WarmPopen([sys.executable, "-c", "import sys; sys.exit(int(sys.stdin.read()))"], warm=sharing,
                        stdin=subprocess.PIPE, text=True)
    for junk in (b"not json", b"{}", b"[1, 2]"):
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        raw.settimeout(30)
        raw.connect("\0" + name)
        raw.send(token.encode())
        assert b"env" in raw.recv(1 << 20)  # greeted
        raw.send(junk)  # without descriptors, or not a request: the sender is dropped
        assert raw.recv(100) == b""
        raw.close()
    running.communicate("7", timeout=60)
    assert running.returncode == 7  # its status still came back: the warm interpreter is there
    later = WarmPopen([sys.executable, "-c", "pass"], warm=Warm(address=address))
    assert later.wait(timeout=60) == 0 and sharing.server.poll() is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs another user to connect as (root here)")
def test_only_this_user_told_the_address_is_served(sharing):
    """The address is in the abstract namespace, which any local user can reach: the warm interpreter starts
    children only for its own user, and only for a process that was told its secret."""
    address = sharing.share()
    name, pid, token = address.split()
    WarmPopen([sys.executable, "-c", "pass"], warm=sharing).wait(timeout=120)  # imported and listening

    def answer(send: bytes) -> bytes:
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        raw.settimeout(30)
        raw.connect("\0" + name)
        try:
            raw.send(send)
            return raw.recv(1 << 20)
        except (BrokenPipeError, ConnectionResetError):  # closed on it (a timeout is no answer either)
            return b""
        finally:
            raw.close()

    child = os.fork()
    if child == 0:  # as the user nobody, with the secret
        try:
            os.setgid(65534)
            os.setuid(65534)
            os._exit(0 if answer(token.encode()) == b"" else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # no greeting: closed at once
    assert answer(b"0" * len(token)) == b""  # this user, a wrong secret
    assert b"env" in answer(token.encode())  # this user, told the address
    assert not Warm(address=f"{name} {int(pid) + 1} {token}", fallback=False)._connect()  # not the process named


def test_a_warm_interpreter_that_cannot_start_means_a_fresh_start():
    broken = Warm(preload=("no_such_module_anywhere",))  # its imports fail: it ends before it is ready
    try:
        child = WarmPopen([sys.executable, "-c", PARENT], warm=broken, stdout=subprocess.PIPE, text=True)
        assert child.communicate(timeout=120)[0] == f"{os.getpid()}\n" and child.returncode == 0
    finally:
        broken.close()
