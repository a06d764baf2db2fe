"""The README's examples, run verbatim (but for the address) against `switchyard demo`:
each must print exactly the output the README shows under it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from demo import README_ADDR, Demo, readme_examples

EXAMPLES = readme_examples()


@pytest.fixture(scope="module")
def demo(binary: Path) -> Iterator[Demo]:
    d = Demo(binary)
    yield d
    d.stop()


def test_the_readme_has_examples_to_run():
    assert len(EXAMPLES) >= 2, f"python blocks dialing {README_ADDR} with an output block"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"README.md:{e.line}")
def test_readme_example_prints_what_the_readme_shows(demo, example):
    code = example.code.replace(README_ADDR, demo.address)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == example.output
