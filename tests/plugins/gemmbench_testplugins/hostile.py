"""A backend whose own code misbehaves where gemmbench loads and asks it: on import, in available() or
in variants(), as GEMMBENCH_TEST_HOSTILE chooses (import-sys-exit, import-segfault, variants-os-exit,
variants-hang). Without the variable it is an ordinary, correct backend."""

from __future__ import annotations

import ctypes
import os
import sys
import time

from gemmbench.backend import Variant
from gemmbench_testplugins import GoodBackend

MODE = os.environ.get("GEMMBENCH_TEST_HOSTILE", "")
if MODE == "import-sys-exit":
    sys.exit(0)
if MODE == "import-segfault":  # what a native extension built for another CPU does
    ctypes.string_at(0)


class HostileBackend(GoodBackend):
    name = "test-hostile"

    def variants(self):
        if MODE == "variants-os-exit":
            os._exit(0)
        if MODE == "variants-hang":
            time.sleep(3600)
        return [Variant("default")]
