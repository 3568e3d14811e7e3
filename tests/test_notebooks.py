"""The notebooks (notebooks/*.ipynb, the lecture in order) run top to bottom and are stored clean.

Executing every notebook keeps it from rotting as the library changes: each runs in a fresh
``python3`` kernel (the Python running the tests) whose working folder is a temporary one, so
the files a notebook writes land there, never in the repository. A failing ``assert`` in a
notebook fails its test, with the cell and the traceback. The glob picks up every notebook
added to the folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the dev extra (pip install -e '.[dev]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in the dev extra (pip install -e '.[dev]')")

FOLDER = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
NAME = re.compile(r"^(\d\d)-[a-z0-9]+(?:-[a-z0-9]+)*\.ipynb$")  # 01-computational-graphs.ipynb
# seconds per cell: a notebook is meant to run in well under a minute; this catches a hang, not slowness
CELL_TIMEOUT = 180
# matplotlib's inline backend, as JupyterLab uses: headless, and figures become outputs. Set
# explicitly so that a MPLBACKEND naming a GUI backend in the caller's shell cannot reach the kernel
INLINE = "module://matplotlib_inline.backend_inline"


def execute(nb: Any, cwd: Path) -> None:
    """Run every cell of ``nb`` in order in a fresh python3 kernel working in ``cwd``; outputs
    are written into ``nb``. Raises nbclient's ``CellExecutionError`` at the first failing cell."""
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT, startup_timeout=120,
                                     resources={"metadata": {"path": str(cwd)}})  # fmt: skip
    client.execute()


def dirty_cells(nb: Any) -> list[int]:
    """Indices of the code cells that hold outputs or an execution count."""
    return [i for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]  # fmt: skip


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", INLINE)
    before = {p.name for p in FOLDER.iterdir()}
    nb = nbformat.read(path, as_version=4)
    execute(nb, tmp_path)
    written = {p.name for p in FOLDER.iterdir()} - before
    assert not written, f"{path.name} wrote {sorted(written)} into notebooks/; expected files only in its working folder"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    assert kernel == "python3", f"{path.name}: kernel {kernel!r}; expected 'python3'"
    dirty = dirty_cells(nb)
    assert not dirty, (f"{path.name}: code cells {dirty} hold outputs or execution counts; expected none "
                       f"(clear them: jupyter nbconvert --clear-output --inplace notebooks/{path.name})")  # fmt: skip


def test_notebooks_are_numbered_in_order() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 4, f"notebooks/ holds {len(names)} notebooks ({names}); expected at least 4 (01 to 04)"
    badly_named = [n for n in names if not NAME.match(n)]
    assert not badly_named, f"notebooks/: {badly_named}; expected names like 01-computational-graphs.ipynb"
    numbers = [int(NAME.match(n).group(1)) for n in names]
    assert numbers == list(range(1, len(names) + 1)), (
        f"notebooks/ numbered {numbers}; expected 1 to {len(names)}, none missing or repeated")


def test_readme_lists_every_notebook() -> None:
    readme = (FOLDER / "README.md").read_text()
    missing = [p.name for p in NOTEBOOKS if f"({p.name})" not in readme]
    assert not missing, f"notebooks/README.md does not link {missing}; expected one line per notebook"


def test_a_failing_cell_fails_and_files_land_in_the_working_folder(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # the harness itself: a notebook whose assert fails must fail its test (errors are not
    # allowed through), and a notebook's relative paths resolve in its working folder
    monkeypatch.setenv("MPLBACKEND", INLINE)
    v4 = nbformat.v4
    nb = v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [v4.new_code_cell("open('written.txt', 'w').write('here')"),
                v4.new_code_cell("assert 1 + 1 == 3, 'a wrong number'"),
                v4.new_code_cell("open('never.txt', 'w').write('not reached')")]  # fmt: skip
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="a wrong number"):
        execute(nb, tmp_path)
    assert (tmp_path / "written.txt").read_text() == "here"
    assert not (tmp_path / "never.txt").exists()  # execution stopped at the failing cell
    assert dirty_cells(nb) == [0, 1]  # and the clean check sees what execution left behind
