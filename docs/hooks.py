"""Build hooks of the docs site (``mkdocs.yml`` names this file twice): not part of the site.

- ``on_config`` (a MkDocs hook) lists the notebooks found in ``notebooks/`` under "Notebooks" in
  the nav, sorted by file name, after the folder's README.md (its overview) where there is one,
  so the site builds strictly with none of them or with all seven (a nav entry for a missing
  notebook would fail ``--strict``; one left out of the nav would be built but unreachable).
- ``on_files`` (a MkDocs hook) makes the site's home page, ``index.md``, from ``README.md``, its
  links rewritten for the site (``docs/gpu.md`` becomes ``gpu.md``): one text, no copy to drift.
- ``DoctestFences`` (a Griffe extension, for the API reference) puts each run of ``>>>`` lines
  of a docstring, with its expected output, into a fenced ``pycon`` block: unfenced, Markdown
  reads ``>>>`` as nested quotes and ``['fc1.weight', ...]`` as a link to resolve.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from griffe import Extension, Object

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def notebook_title(path: Path) -> str:
    """The first Markdown heading of a notebook, else its file name without the number and suffix.

    >>> notebook_title(Path("does-not-exist/03-svm-and-softmax.ipynb"))
    'Svm and softmax'
    """
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        cells = []
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            source = "".join(cell.get("source", []))
            match = re.search(r"^#+\s+(.+)$", source, flags=re.M)
            if match:
                return match.group(1).strip()
    stem = re.sub(r"^\d+[-_ ]*", "", path.stem).replace("-", " ").replace("_", " ")
    return stem[:1].upper() + stem[1:]


def notebook_nav(folder: Path = NOTEBOOKS) -> list[dict[str, str]]:
    """One nav entry per notebook in ``folder`` (paths as the site sees them: ``notebooks/...``).

    >>> notebook_nav(Path("does-not-exist"))
    []
    """
    if not folder.is_dir():
        return []
    overview = [{"The notebooks": "notebooks/README.md"}] if (folder / "README.md").is_file() else []
    return overview + [{notebook_title(p): f"notebooks/{p.name}"} for p in sorted(folder.glob("*.ipynb"))]


def on_config(config: Any) -> Any:
    """Put the notebooks present now into the nav, before the API reference (MkDocs calls this)."""
    entries = notebook_nav()
    nav = config.get("nav")
    if entries and nav is not None:
        at = next((i for i, item in enumerate(nav) if isinstance(item, dict) and "API reference" in item), len(nav))
        nav.insert(at, {"Notebooks": entries})
    return config


def site_link(target: str, notebooks: list[str]) -> str | None:
    """Where a README link points in the site (None: drop the link, keep its text).

    >>> site_link("docs/gpu.md", []), site_link("ARCHITECTURE.md", []), site_link("#ten-lines", [])
    ('gpu.md', 'architecture.md', '#ten-lines')
    >>> site_link("notebooks/", ["notebooks/01-graphs.ipynb"]), site_link("notebooks/", []), site_link("docs/", [])
    ('notebooks/01-graphs.ipynb', None, None)
    """
    if target.startswith(("#", "http://", "https://")):
        return target
    if target == "ARCHITECTURE.md":
        return "architecture.md"  # docs/architecture.md links to it
    if target.rstrip("/") == "notebooks":
        return notebooks[0] if notebooks else None  # a folder is no page: its overview (or first notebook) is
    if target.startswith("docs/") and target != "docs/":
        return target[len("docs/") :]
    return None


def readme_for_site(readme: str, notebooks: list[str]) -> str:
    """README.md's text with each link pointed where it leads in the site.

    >>> readme_for_site("[GPU](docs/gpu.md), [the guides](docs/)", [])
    '[GPU](gpu.md), the guides'
    """

    def repoint(match: re.Match[str]) -> str:
        target = site_link(match.group(2), notebooks)
        if target is None:
            return match.group(1).lstrip("!")[1:-1]  # the link's text alone
        return f"{match.group(1)}({target})"

    return re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", repoint, readme)


def on_files(files: Any, config: Any) -> Any:
    """Add the home page made from README.md (MkDocs calls this once the docs folder is read)."""
    from mkdocs.structure.files import File

    if files.get_file_from_path("index.md") is None:
        notebooks = [entry for item in notebook_nav() for entry in item.values()]  # the overview first
        content = readme_for_site((ROOT / "README.md").read_text(encoding="utf-8"), notebooks)
        files.append(File.generated(config, "index.md", content=content))
    return files


def fence_doctests(text: str) -> str:
    """Wrap each run of doctest lines (``>>>`` up to the next blank line) in a ``pycon`` fence.

    >>> fence_doctests("Adds.\\n\\n>>> 1 + 1\\n2\\n\\nDone.").split("\\n")
    ['Adds.', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'Done.']
    """
    out: list[str] = []
    lines = text.split("\n")
    i, fence = 0, False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            fence = not fence  # a block the author fenced already stays as it is
        if fence or not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(Extension):
    """Fences every docstring's doctests as it is loaded (mkdocstrings' ``extensions:`` option)."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring in place (Griffe calls this once per loaded object)."""
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
