"""The pictures: one wire per use and gradients adding at forks, networks named by their
modules, readable sizes, a scale for Graphviz's pictures, and what Jupyter shows."""

from __future__ import annotations

import json
import re
import shutil
import struct

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, viz
from chainrule.viz.explainer import trace


def fork_circuit():
    """The lecture's branch: u feeds the * gate twice and the + gate once; df/du = 2u + 1 = 7."""
    u = cr.Tensor(3.0, requires_grad=True, name="u")
    f = u * u + u
    f.name = "f"
    return f, u


def uses(svg: str, node_id: str) -> list[dict]:
    """The wires out of a node in the page's SVG: their target, slot, path and gradient label."""
    found = []
    pattern = r'<g class="use" id="(e\d+)" data-from="([^"]+)" data-to="([^"]+)" data-slot="(\d+)">(.*?)</g>'
    for eid, src, dst, slot, body in re.findall(pattern, svg, re.S):
        if src == node_id:
            path = re.search(r'<path class="edge" d="([^"]+)"', body).group(1)
            label = re.search(r'<text class="grad"[^>]*>([^<]*)</text>', body)
            found.append({"id": eid, "to": dst, "slot": int(slot), "d": path, "grad": label.group(1) if label else ""})
    return found


class TwoLayerNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 5)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(5, 3)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return self.fc2(self.relu(self.fc1(x)))


def two_layer_loss(model: nn.Module) -> cr.Tensor:
    loss = nn.functional.cross_entropy(model(cr.Tensor(np.random.default_rng(0).standard_normal((2, 4)))), [0, 2])
    loss.name = "loss"
    return loss


# -- one wire per use, gradients adding at the fork ------------------------------------------------


def test_every_use_is_its_own_wire_and_the_fork_sums_them():
    f, u = fork_circuit()
    tr = trace(f)
    graph = viz.build_graph(f, tr=tr)
    svg = viz.to_svg(graph)
    wires = uses(svg, f"t{id(u)}")
    gates = {n.id: n.symbol for n in graph.nodes.values() if n.kind == "gate"}
    assert sorted(gates[w["to"]] for w in wires) == ["*", "*", "+"]  # three wires: two into *, one into +
    into_mul = [w for w in wires if gates[w["to"]] == "*"]
    assert {w["slot"] for w in into_mul} == {0, 1} and into_mul[0]["d"] != into_mul[1]["d"]  # two ports, two lines
    parts = [float(w["grad"]) for w in wires]
    assert sorted(parts) == [1.0, 3.0, 3.0]  # each wire: what its gate sent back
    assert sum(parts) == u.grad.item() == 7.0  # the fork: they add
    note = re.search(r'<text class="sum"[^>]*>([^<]*)</text>', svg).group(1)
    assert note == "gradients add: " + " + ".join(w["grad"] for w in wires) + " = 7"
    assert svg.count('<circle class="fork"') == 1  # one branching point


def test_a_wire_past_a_gate_goes_around_it():
    # u's wire into + skips the column of the * gate: it must run beside the gate, not through it
    f, u = fork_circuit()
    graph = viz.build_graph(f, tr=trace(f))
    svg = viz.to_svg(graph)
    mul = next(n.id for n in graph.nodes.values() if n.symbol == "*")
    cx, cy, rx, ry = (float(v) for v in re.search(
        rf'id="{mul}">\s*<ellipse cx="([\d.]+)" cy="([\d.]+)" rx="([\d.]+)" ry="([\d.]+)"', svg).groups())  # fmt: skip
    (to_add,) = [w for w in uses(svg, f"t{id(u)}") if w["to"] != mul]
    points = [tuple(map(float, p)) for p in re.findall(r"([\d.]+),([\d.]+)", to_add["d"])]
    beside = [y for x, y in points if cx - rx <= x <= cx + rx]
    assert beside and all(abs(y - cy) > ry for y in beside), (to_add["d"], (cx, cy, rx, ry))


def test_the_page_fills_in_each_wires_gradient_as_its_gate_runs(tmp_path):
    f, u = fork_circuit()
    page = viz.to_html(f, tmp_path / "fork.html").read_text()
    data = json.loads(re.search(r'<script id="steps" type="application/json">(.*?)</script>', page, re.S).group(1))
    svg = page[page.index("<svg"):page.index("</svg>")]
    wires = uses(svg, f"t{id(u)}")
    assert len(wires) == 3 and all(w["grad"] == "" for w in wires)  # before stepping: no gradients
    shown = {}
    for step in data["steps"]:
        shown.update({k: v["text"] for k, v in step["updates"].items() if k.startswith("e")})
    assert sorted(float(shown[w["id"]]) for w in wires) == [1.0, 3.0, 3.0]
    last = data["steps"][-1]["updates"][f"t{id(u)}"]
    assert last["text"] == "7" and last["sum"].endswith("= 7")


def test_dot_draws_one_edge_per_use_labelled_with_its_gradient():
    f, u = fork_circuit()
    dot = viz.to_dot(f, tr=trace(f))
    edges = re.findall(rf'"t{id(u)}":v:se -> "g\d+"(?: \[label=<([^>]*)>)?', dot)
    assert sorted(edges) == ["1", "3", "3"]
    assert "gradients add: 1 + 3 + 3 = 7" in dot


# -- networks: names from their modules, folding ---------------------------------------------------


def test_parameters_are_named_by_module_path_and_values_by_module():
    cr.manual_seed(0)
    loss = two_layer_loss(TwoLayerNet())
    titles = {n.title for n in viz.build_graph(loss).nodes.values() if n.kind == "value"}
    assert {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc1", "relu", "fc2", "input"} <= titles
    assert not any("const" in t for t in titles), titles
    assert "fc1.weight (5x4)" in viz.to_dot(loss)
    seq = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    titles = {n.title for n in viz.build_graph(two_layer_loss(seq)).nodes.values()}
    assert {"0.weight", "0.bias", "2.weight", "2.bias", "0: Linear", "2: Linear"} <= titles


def test_the_pages_sentences_call_values_as_the_picture_does():
    from chainrule.viz.html import page_data

    cr.manual_seed(0)
    loss = two_layer_loss(TwoLayerNet())
    tr = trace(loss)
    text = " ".join(step["sentence"] for step in page_data(viz.build_graph(loss, tr=tr), tr)["steps"])
    assert "fc1.weight" in text and "fc2.bias" in text and "output relu" in text
    assert "const" not in text


def test_a_networks_modules_fold_and_open_in_the_page(tmp_path):
    cr.manual_seed(0)
    net = TwoLayerNet()
    folded = viz.build_graph(two_layer_loss(net), collapse="modules")
    groups = [n for n in folded.nodes.values() if n.kind == "group"]
    assert sorted(g.module for g in groups) == ["fc1", "fc2", "relu"]
    assert "fc1: Linear" in [g.heading() for g in groups]
    with pytest.raises(ValueError, match=r"collapse='layers'; expected 'modules'"):
        viz.build_graph(two_layer_loss(net), collapse="layers")
    page = viz.to_html(two_layer_loss(net), tmp_path / "net.html", collapse="modules").read_text()
    data = json.loads(re.search(r'<script id="steps" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert set(data["views"]) == {"", "*", "fc1", "relu", "fc2"}
    assert 'data-view="fc1"' in data["views"][""]["svg"] and 'data-view="fc1"' not in data["views"]["fc1"]["svg"]
    assert all(len(v["steps"]) == len(data["steps"]) for v in data["views"].values())  # one backward pass


def test_page_zooms_and_opens_a_module_on_click(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (a test dependency) drives the browser")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium.webdriver.chrome.service import Service

    cr.manual_seed(0)
    path = viz.to_html(two_layer_loss(TwoLayerNet()), tmp_path / "net.html", collapse="modules")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,700"):
        options.add_argument(flag)
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        browser.get(path.resolve().as_uri())
        body = browser.find_element("tag name", "body")
        zoom = float(body.get_attribute("data-zoom"))
        browser.find_element("id", "zoom-in").click()
        assert float(body.get_attribute("data-zoom")) == pytest.approx(zoom * 1.25, rel=1e-3)
        browser.find_element("id", "zoom-fit").click()
        browser.find_element("id", "step").click()
        browser.execute_script("document.querySelector('g.node.group[data-view=\"fc1\"]')"
                               ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")  # fmt: skip
        assert body.get_attribute("data-view") == "fc1" and body.get_attribute("data-step") == "1"
        assert browser.find_elements("css selector", 'g.node.group[data-view="fc1"]') == []  # fc1 is open
        assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        browser.quit()


# -- sizes ---------------------------------------------------------------------------------------------


def test_labels_are_at_least_12_px():
    f, _ = fork_circuit()
    tr = trace(f)
    svg = viz.to_svg(viz.build_graph(f, tr=tr))
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    assert sizes and min(sizes) >= 12
    dot = viz.to_dot(f, tr=tr)
    points = [float(s) for s in re.findall(r'(?:POINT-SIZE="|fontsize=)([\d.]+)', dot)]
    assert points and min(points) >= 12  # points: at 96 dpi, 16 px and more


needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt-get install graphviz)")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@needs_dot
def test_the_scale_option_sizes_graphviz_pictures(tmp_path):
    f, _ = fork_circuit()
    tr = trace(f)
    small = png_size(viz.render(f, tmp_path / "a.png", tr=tr, scale=1).read_bytes())
    large = png_size(viz.render(f, tmp_path / "b.png", tr=tr, scale=2).read_bytes())
    assert large[0] == pytest.approx(2 * small[0], rel=0.02) and large[1] == pytest.approx(2 * small[1], rel=0.02)
    width = [float(re.search(r'<svg width="([\d.]+)pt"', viz.render(f, tmp_path / f"{k}.svg", tr=tr, scale=k)
                             .read_text()).group(1)) for k in (1, 3)]  # fmt: skip
    assert width[1] == pytest.approx(3 * width[0], rel=0.01)


def test_a_bad_scale_is_refused_in_one_line(tmp_path):
    f, _ = fork_circuit()
    for bad in (0, -1, "2", 100):
        with pytest.raises(ValueError, match=r"^render: scale=.*; expected a number from 0.1 to 10"):
            viz.render(f, tmp_path / "f.png", scale=bad)


# -- Jupyter -------------------------------------------------------------------------------------------


def test_jupyter_shows_a_loss_as_its_numbers_with_the_graph_a_click_away():
    cr.manual_seed(0)
    loss = two_layer_loss(TwoLayerNet())
    html = loss._repr_html_()
    head, _, rest = html.partition("<details>")
    assert f"{loss.item():.4f}"[:5] in head and "<svg" not in head  # the numbers first, no picture
    assert rest and "<details open" not in html and "<svg" in rest  # the graph: closed, one click away
    assert not hasattr(loss, "_repr_svg_")  # Jupyter would prefer a picture over the numbers
    picture = loss.graph()
    assert "<svg" in picture._repr_svg_() and picture._repr_svg_() in picture._repr_html_()
    with pytest.raises(ValueError, match="graph: this tensor is a leaf"):
        cr.Tensor([1.0, 2.0]).graph()
