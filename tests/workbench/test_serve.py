"""`workbench serve`: the app in a real headless browser (Debian's chromium, driven over the DevTools
protocol), a port already taken, and the warning for a host other than localhost."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a server, a browser and the app's own process
ROOT = Path(__file__).resolve().parents[2]
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    return condition()


def answers(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return None


def bright(png: bytes) -> float:
    """The share of the picture's pixels that are text-bright: the page's splash is nearly all dark."""
    import numpy as np
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return float((grey > 120).mean())


async def screenshot_when_drawn(url: str, devtools: int, seconds: float = 40) -> bytes:
    """Open `url` in the browser listening on `devtools` and return its screenshot once the app has drawn."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{devtools}/json/list") as response:
            page = next(t for t in await response.json() if t["type"] == "page")
        async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            ids = iter(range(1, 10**6))

            async def call(method: str, **params):
                number = next(ids)
                await ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
                while True:
                    message = json.loads((await ws.receive()).data)
                    if message.get("id") == number:
                        return message.get("result", {})

            await call("Page.navigate", url=url)
            deadline = time.monotonic() + seconds
            png = b""
            while True:
                shot = await call("Page.captureScreenshot", format="png")  # nothing while the page still loads
                png = base64.b64decode(shot["data"]) if "data" in shot else png
                if (png and bright(png) > 0.01) or time.monotonic() > deadline:
                    return png
                await asyncio.sleep(1)


@pytest.mark.skipif(BROWSER is None, reason="no chromium here (Debian: apt-get install chromium)")
def test_the_picker_is_drawn_in_a_real_browser(tmp_path):
    port, devtools = free_port(), free_port()
    env = {**os.environ, "WORKBENCH_PIXELS": "0"}
    server = subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", "--port", str(port)], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    browser = None
    try:
        assert wait_for(lambda: answers(f"http://127.0.0.1:{port}/") == 200, 30), "the server never answered"
        profile = tempfile.mkdtemp(dir=tmp_path)
        browser = subprocess.Popen([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                    "--window-size=1200,800", f"--remote-debugging-port={devtools}",
                                    f"--user-data-dir={profile}", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        assert wait_for(lambda: answers(f"http://127.0.0.1:{devtools}/json/version") == 200, 30)
        png = asyncio.run(screenshot_when_drawn(f"http://127.0.0.1:{port}/", devtools))
        (tmp_path / "served-picker.png").write_bytes(png)  # the picture, beside the test's other output
        assert png and bright(png) > 0.01, f"the page stayed blank: {tmp_path / 'served-picker.png'}"
    finally:
        for process in (browser, server):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
    said = server.stdout.read()
    assert f"serving the workbench at http://127.0.0.1:{port}/" in said
    assert f"ssh -L {port}:localhost:{port}" in said


def test_a_port_in_use_says_which_process_holds_it():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        proc = subprocess.run([sys.executable, "-m", "workbench.cli", "serve", "--port", str(port)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"port {port} is in use by process {os.getpid()}" in proc.stderr and "another --port" in proc.stderr


def test_another_host_than_localhost_is_warned_about(monkeypatch, capsys):
    from workbench.commands import serve

    served = []
    monkeypatch.setattr("textual_serve.server.Server.serve", lambda self, **_: served.append((self.host, self.port)))
    args = type("Args", (), {"host": "0.0.0.0", "port": free_port(), "app_args": []})()
    assert serve.serve(args) == 0 and served == [("0.0.0.0", args.port)]
    err = capsys.readouterr().err
    assert "anyone who can reach port" in err and "start and stop runs" in err
