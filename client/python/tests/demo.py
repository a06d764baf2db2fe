"""The README's examples, as a newcomer runs them: against `switchyard demo`.

`Demo` runs `$SWITCHYARD_BIN demo --keep-running --listen 127.0.0.1:0` and waits for
its "keeps running on <addr>" line (the demo's own calls are over by then: codex's key
is dead and cheap's is cooling, as the README says). `readme_examples()` pairs every
```python block of README.md that dials 127.0.0.1:50051 with the ```text block that
follows it: the output it prints.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
#: The address every README example dials; the tests swap in the demo's.
README_ADDR = "127.0.0.1:50051"


@dataclass
class ReadmeExample:
    code: str
    output: str
    line: int


def readme_examples() -> list[ReadmeExample]:
    text = README.read_text()
    blocks = [
        (m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S)
    ]
    return [
        ReadmeExample(code=body, output=blocks[i + 1][1], line=line)
        for i, (lang, body, line) in enumerate(blocks)
        if lang == "python"
        and README_ADDR in body
        and i + 1 < len(blocks)
        and blocks[i + 1][0] == "text"
    ]


class Demo:
    """A running `switchyard demo --keep-running`."""

    def __init__(self, binary: Path, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [str(binary), "demo", "--keep-running", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:  # drained until the process exits
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        seen: list[str] = []
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError("the demo did not start; its output:\n" + "".join(seen))
            seen.append(line)
            m = re.match(r"The demo server keeps running on (\S+) ", line)
            if m:
                self.address = m.group(1)
                return

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
