"""The docs: the site builds strictly, and every example in README.md and docs/ runs.

Each page's ```python blocks run in order in one namespace (a block may use what an earlier
block of its page made), from a scratch folder; each page's ``chainrule ...`` shell lines run
in order through the command's ``main`` (``evaluate`` reads what ``train`` wrote). Pages are
README.md, then the guides in the order of mkdocs.yml's nav, then any other page of docs/.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
NAV = re.findall(r"^\s*-\s*(?:[^\n]*:\s+)?(\S+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
GUIDES = [DOCS / name for name in NAV if (DOCS / name).is_file() and not (DOCS / name).is_symlink()]
PAGES = [README, *GUIDES, *sorted(p for p in DOCS.rglob("*.md") if p not in GUIDES and not p.is_symlink())]


def python_blocks(page: Path) -> list[str]:
    """The page's ```python blocks, in order."""
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)


def commands(page: Path, prefix: str = "chainrule ") -> list[str]:
    """The lines of the page's ```sh blocks that start with ``prefix``, in order."""
    blocks = re.findall(r"^```sh\n(.*?)^```", page.read_text(), flags=re.S | re.M)
    return [ln.strip() for block in blocks for ln in block.splitlines() if ln.strip().startswith(prefix)]


def test_pages_have_examples():
    assert len(python_blocks(README)) >= 2  # the ten lines, and tensors of any shape
    assert sum(len(python_blocks(p)) for p in PAGES) >= 19  # the 19 of the README before it moved into guides
    assert any(c.startswith("chainrule train") for p in PAGES for c in commands(p))


def test_readme_is_short_and_its_links_lead_somewhere():
    """The README is a newcomer's page (<= 250 lines); each relative link names a file or folder that exists."""
    text = README.read_text()
    assert len(text.splitlines()) <= 250, f"README.md has {len(text.splitlines())} lines; expected at most 250"
    targets = re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", text)
    assert any(t.startswith("docs/") for t in targets)
    missing = [t for t in targets if not t.startswith(("http://", "https://")) and not (ROOT / t).exists()]
    assert not missing, f"README.md links to {missing}, which do not exist"


def test_every_guide_is_in_the_nav():
    """A guide left out of mkdocs.yml's nav would be built but reachable from nowhere."""
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if not p.is_symlink()}
    assert not pages - set(NAV), f"docs pages missing from mkdocs.yml's nav: {sorted(pages - set(NAV))}"


EXAMPLE_PAGES = [p for p in PAGES if python_blocks(p)]


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=[str(p.relative_to(ROOT)) for p in EXAMPLE_PAGES])
def test_page_examples_run(page, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace = {"__name__": "readme"}
    for i, code in enumerate(python_blocks(page)):
        exec(compile(code, f"{page} (python block {i})", "exec"), namespace)


COMMAND_PAGES = [p for p in PAGES if commands(p)]


@pytest.mark.parametrize("page", COMMAND_PAGES, ids=[str(p.relative_to(ROOT)) for p in COMMAND_PAGES])
def test_page_commands_run(page, tmp_path, monkeypatch, capsys):
    """The page's chainrule commands, in order, from a scratch folder."""
    from chainrule.cli import main

    lines = commands(page)
    if any(" --data digits" in c or c.startswith("chainrule evaluate") for c in lines):
        pytest.importorskip("sklearn", reason="the digits examples need scikit-learn (the data extra)")
    monkeypatch.chdir(tmp_path)
    for command in lines:
        assert main(shlex.split(command)[1:]) == 0, f"{page.name}: {command}"
    if any(c.startswith("chainrule evaluate") for c in lines):
        assert "accuracy" in capsys.readouterr().out


def test_build_hooks():
    """docs/hooks.py's own examples (it is not under chainrule/, so --doctest-modules skips it)."""
    pytest.importorskip("griffe", reason="the docs hooks need griffe (mkdocstrings[python], the docs extra)")
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    result = doctest.testmod(hooks)
    assert result.attempted >= 5 and result.failed == 0
    text = hooks.readme_for_site(README.read_text(), [])
    assert "](docs/" not in text and "(neuron-circuit.png)" in text


# the packages of the API reference: docs/api/<name>.md documents chainrule.<name>
API = ["autograd", "ops", "nn", "nn.functional", "optim", "data", "models", "tasks", "training", "viz",
       "compiler", "distributed", "serialization"]  # fmt: skip


def test_site_builds_strictly(tmp_path):
    """mkdocs build --strict: no broken link, no page left out of the nav, no docstring it cannot read;
    offline (no font, script or style from the network); every public name in the API reference;
    every notebook rendered."""
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter"):
        pytest.importorskip(module, reason="building the docs site needs the docs extra (MkDocs and its plugins)")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for page in GUIDES:
        assert (site / page.relative_to(DOCS)).with_suffix(".html").exists(), page
    home = (site / "index.html").read_text()
    assert "Ten lines" in home and 'href="writing-a-gate.html"' in home  # the README, its links repointed
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert (site / "notebooks" / notebook.name).with_suffix(".html").exists(), notebook.name
    external = set()
    for html in site.rglob("*.html"):
        external |= set(re.findall(r'<(?:script|link|img)\b[^>]*(?:src|href)="(https?://[^"]+)"', html.read_text()))
    assert not external, f"the site loads from the network: {sorted(external)[:5]}"
    for name in API:
        module = importlib.import_module(f"chainrule.{name}")
        public = getattr(module, "__all__", None)
        if public is None:
            public = [n for n, v in vars(module).items() if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__]
        public = [n for n in public if not type(getattr(module, n)).__name__ == "module"]
        html = (site / "api" / f"{name}.html").read_text()
        ids = set(re.findall(r'id="(chainrule\.[\w.]+)"', html))
        missing = [n for n in public if f"chainrule.{name}.{n}" not in ids and not any(
            i.rpartition(".")[2] == n and getattr(sys.modules.get(i.rpartition(".")[0]), n, None) is getattr(module, n)
            for i in ids)]  # fmt: skip
        assert not missing, f"docs/api/{name}.md leaves out public names of chainrule.{name}: {missing}"
