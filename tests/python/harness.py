"""Starts the real `llmserve serve` binary on a free loopback port for the Python tests and stops it.

The port comes from the server's own JSON log line ("llmserve listening", field `address`), so the
tests also check that the server logs where it listens. Extra CLI flags and env vars pass through.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request


class Server:
    def __init__(self, binary, *flags, startup_timeout=300):
        self.binary = binary
        self.flags = list(flags)
        self.startup_timeout = startup_timeout
        self.proc = None
        self.base_url = None
        self.log_lines = []

    def __enter__(self):
        cmd = [self.binary, "serve", "--model", "default", "--port", "0", "--log-format", "json", *self.flags]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        found = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.log_lines.append(line)
                if self.base_url is None:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if entry.get("message") == "llmserve listening":
                        self.base_url = entry["address"]
                        found.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.time() + self.startup_timeout
        while not found.wait(0.2):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                sys.stderr.write("".join(self.log_lines))
                raise RuntimeError("llmserve did not start (log above)")
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("/health never answered 200")

    def rss_bytes(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def metrics(self):
        with urllib.request.urlopen(self.base_url + "/metrics", timeout=10) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                # Every series carries the served model as a label; key unlabelled series by name.
                if name.startswith("llmserve_") and name.count("{") == 1 and name.count("=") == 1 and 'model="' in name:
                    name = name.split("{", 1)[0]
                values[name] = float(value)
        return values

    def stop(self, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def __exit__(self, *exc):
        self.stop()
        return False
