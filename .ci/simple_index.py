"""Lay out a directory of wheels as a PEP 503 simple index (CI's stand-in for PyTorch's CPU
wheel index, which an offline CI cannot reach): ``python simple_index.py WHEELS INDEX``."""

import re
import sys
from pathlib import Path

wheels, index = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
projects: dict[str, list[Path]] = {}
for wheel in sorted(wheels.glob("*.whl")):
    name = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
    projects.setdefault(name, []).append(wheel)
for name, files in projects.items():
    page = index / name
    page.mkdir(parents=True, exist_ok=True)
    links = "".join(f'<a href="{w.as_uri()}">{w.name}</a>\n' for w in files)
    (page / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
root = "".join(f'<a href="{n}/">{n}</a>\n' for n in sorted(projects))
(index / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{root}</body></html>\n")
