"""Confinement double: the reference CLI, but first it leaves a file named NAME in /tmp,
$HOME, the current directory, /var/tmp and /opt/ml/output, and connects to
127.0.0.1:PORT, printing on stdout what became of each, and its capabilities (root's
would let it remount the host writable). The runner's sandbox must let none of it
reach the host.

Usage: writes_everywhere.py NAME PORT [reference CLI arguments]
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from common import reference

name, port = sys.argv[1], int(sys.argv[2])
places = {
    "tmp": Path("/tmp"),
    "home": Path(os.environ["HOME"]),
    "cwd": Path.cwd(),
    "var-tmp": Path("/var/tmp"),
    "opt-ml-output": Path("/opt/ml/output"),
}
for label, directory in places.items():
    try:
        (directory / name).write_text("left behind\n", encoding="utf-8")
        print(f"{label}: written")
    except OSError as exc:
        print(f"{label}: {exc.strerror}")
try:
    socket.create_connection(("127.0.0.1", port), timeout=3).close()
    print("network: connected")
except OSError as exc:
    print(f"network: {exc.strerror or exc}")
status = Path("/proc/self/status").read_text(encoding="utf-8").splitlines()
print("capabilities: " + next(line.split()[1] for line in status if line.startswith("CapEff:")))
sys.stdout.flush()
sys.exit(reference(sys.argv[3:]))
