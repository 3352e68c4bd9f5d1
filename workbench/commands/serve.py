"""`workbench serve`: the same app in a browser, through textual-serve (Textualize's own package). Each
browser tab gets its own workbench process; runs started there are ordinary detached runs in the runs home."""

from __future__ import annotations

import errno
import os
import shlex
import socket
import sys
from pathlib import Path

from trainers.errors import WorkbenchError

LOCAL = ("127.0.0.1", "localhost", "::1")


def port_holder(port: int) -> str:
    """"process 1234 (python3 -m http.server)" for the process listening on `port` here, or "" (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                    return f"process {proc.name} ({command[:80]})"
        except OSError:
            continue
    return ""


def check_port(host: str, port: int) -> None:
    """One sentence, before anything is served, when the port cannot be had."""
    if not 0 < port < 65536:
        raise WorkbenchError(f"--port must be from 1 to 65535, got {port}.")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            holder = port_holder(port)
            raise WorkbenchError(f"port {port} is in use" + (f" by {holder}" if holder else "") +
                                 "; give another --port.") from None
        raise WorkbenchError(f"cannot serve on {host}:{port}: {err.strerror or err}.") from None
    finally:
        probe.close()


def serve(args) -> int:
    host, port = args.host, args.port
    check_port(host, port)
    try:
        from textual_serve.server import Server
    except ImportError:
        raise WorkbenchError("workbench serve needs textual-serve: pip install textual-serve") from None
    if host not in LOCAL:
        print(f"workbench: warning: serving on {host}: anyone who can reach port {port} there can start and stop "
              f"runs. Prefer the default (localhost) and an SSH tunnel.", file=sys.stderr)
    print(f"serving the workbench at http://{host}:{port}/ (Ctrl-C stops it)")
    if host in LOCAL:
        print(f"  from another machine: ssh -L {port}:localhost:{port} THIS_SERVER, then open http://localhost:{port}/")
    command = shlex.join([sys.executable, "-m", "workbench.cli", *args.app_args])
    Server(command, host=host, port=port, title="workbench").serve()
    return 0
