"""No chapter repeats another chapter's code: logic that chapters share lives in gler.

A code cell with three or more lines of logic (import lines, comments and blank lines left out,
white space folded) must not stand in two chapters. Three cells are the same in every chapter
on purpose and are not compared: the Colab install cell (:func:`gler.notebook.is_colab_cell`),
the provenance cell (it calls ``provenance(``) and papermill's ``parameters`` cell (each
chapter declares its parameters; the three module chapters look at the same window).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from gler.notebook import is_colab_cell
from gler.reproduce import list_chapters

ROOT = Path(__file__).resolve().parents[1]
#: Lines of logic from which a cell counts as code that could be repeated.
MIN_LINES = 3
PROVENANCE = re.compile(r"\bprovenance\(")
IMPORT = re.compile(r"(import|from) \w")


def chapters() -> dict[str, dict]:
    """Every chapter of the book, by stem."""
    return {path.stem: json.loads(path.read_text(encoding="utf-8"))
            for path in list_chapters(ROOT / "book")}


def logic_lines(source: str) -> tuple[str, ...]:
    """A cell's lines without imports, comments and blank lines, white space folded."""
    folded = (" ".join(line.split()) for line in source.splitlines())
    return tuple(line for line in folded
                 if line and not line.startswith("#") and not IMPORT.match(line))


def is_the_same_everywhere(cell: dict) -> bool:
    """The Colab, provenance and parameters cells, which every chapter has."""
    return (is_colab_cell(cell) or bool(PROVENANCE.search("".join(cell.get("source", ""))))
            or "parameters" in cell.get("metadata", {}).get("tags", []))


def compared_cells(notebooks: dict[str, dict]) -> list[tuple[str, int, tuple[str, ...]]]:
    """``(chapter, cell index, logic lines)`` of each code cell that is compared."""
    return [(name, index, lines)
            for name, notebook in notebooks.items()
            for index, cell in enumerate(notebook.get("cells", []))
            if cell.get("cell_type") == "code" and not is_the_same_everywhere(cell)
            for lines in [logic_lines("".join(cell.get("source", "")))]
            if len(lines) >= MIN_LINES]


def repeated_cells(notebooks: dict[str, dict]) -> list[str]:
    """``"<chapter>[i] repeats <chapter>[j]"`` for each compared cell that an earlier chapter
    already has."""
    first: dict[tuple[str, ...], tuple[str, int]] = {}
    found = []
    for name, index, lines in compared_cells(notebooks):
        seen, seen_index = first.setdefault(lines, (name, index))
        if seen != name:
            found.append(f"{name}[{index}] repeats {seen}[{seen_index}]")
    return found


def test_no_chapter_repeats_another_chapters_code():
    """Each compared cell stands in one chapter only; the check has cells to compare."""
    notebooks = chapters()
    assert len(compared_cells(notebooks)) >= 2 * len(notebooks), "the check compares nothing"
    assert repeated_cells(notebooks) == []


def test_the_check_finds_a_planted_duplicate():
    """A cell copied into another chapter, reindented and with other imports and comments,
    is found."""
    notebooks = chapters()
    name, index, lines = compared_cells(notebooks)[0]
    other = next(n for n in notebooks if n != name)
    copied = "import numpy as np\n# copied\n" + "\n".join(f"  {line}  " for line in lines)
    notebooks[other]["cells"].append({"cell_type": "code", "metadata": {}, "source": copied})
    planted = len(notebooks[other]["cells"]) - 1
    assert repeated_cells(notebooks) == [f"{other}[{planted}] repeats {name}[{index}]"]


def test_shared_cells_and_repeats_within_a_chapter_pass():
    """The Colab, provenance and parameters cells of one chapter in another, and a cell twice
    in the same chapter, are not reported."""
    notebooks = chapters()
    name, index, _ = compared_cells(notebooks)[0]
    cells = notebooks[name]["cells"]
    shared = [c for c in cells if c.get("cell_type") == "code" and is_the_same_everywhere(c)]
    assert len(shared) == 3
    other = next(n for n in notebooks if n != name)
    notebooks[other]["cells"] += copy.deepcopy(shared)
    cells.append(copy.deepcopy(cells[index]))
    assert repeated_cells(notebooks) == []
