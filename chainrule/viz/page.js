// The backward pass, one gate at a time: chainrule.viz.to_html embeds this script.
// Step k shows the state after k gates: every gradient filled in so far (on the values,
// and on each wire out of a fork, with the fork's sum), the k-th gate highlighted, and its
// sentence from the explainer. The picture zooms (wheel, buttons) and pans (drag); where
// the page folds a network's modules, a click on one opens it (another picture, same steps).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("steps").textContent);
  const slider = document.getElementById("slider");
  const stepButton = document.getElementById("step");
  const backButton = document.getElementById("back");
  const sentence = document.getElementById("sentence");
  const counter = document.getElementById("counter");
  const canvas = document.getElementById("canvas");
  let steps = data.steps;
  let current = 0;

  // A gradient's text: one tspan per row (a small matrix shows row by row), below the value.
  function writeGrad(text, value) {
    while (text.firstChild) text.removeChild(text.firstChild);
    if (value === null) return;
    const prefix = text.getAttribute("data-prefix") || "";
    value.split("\n").forEach(function (row, i) {
      const span = document.createElementNS("http://www.w3.org/2000/svg", "tspan");
      span.setAttribute("x", text.getAttribute("x"));
      span.setAttribute("dy", i === 0 ? "0" : "18");
      span.textContent = prefix + row;
      text.appendChild(span);
    });
  }

  function setGrad(id, update) {
    const node = document.getElementById(id);
    if (!node) return;
    const text = node.querySelector("text.grad");
    if (text) writeGrad(text, update.text);
    if (update.numbers) node.setAttribute("data-grad", JSON.stringify(update.numbers));
    if (update.sum) {
      const sum = node.querySelector("text.sum");
      if (sum) sum.textContent = update.sum;
    }
    node.classList.add("has-grad");
  }

  function show(k) {
    current = Math.max(0, Math.min(steps.length, k));
    canvas.querySelectorAll("g.node, g.use").forEach(function (node) {
      node.classList.remove("active", "done", "has-grad");
      node.removeAttribute("data-grad");
      const text = node.querySelector("text.grad");
      if (text) writeGrad(text, null);
      const sum = node.querySelector("text.sum");
      if (sum) sum.textContent = "fork: gradients add";
    });
    for (let i = 0; i < current; i++) {
      const s = steps[i];
      Object.keys(s.updates).forEach(function (id) { setGrad(id, s.updates[id]); });
      const gate = document.getElementById(s.gate);
      if (gate) gate.classList.add(i === current - 1 ? "active" : "done");
    }
    sentence.textContent = current === 0 ? data.intro : steps[current - 1].sentence;
    slider.value = String(current);
    counter.textContent = "step " + current + " of " + steps.length;
    stepButton.disabled = current >= steps.length;
    backButton.disabled = current <= 0;
    document.body.setAttribute("data-step", String(current));
  }

  stepButton.addEventListener("click", function () { show(current + 1); });
  backButton.addEventListener("click", function () { show(current - 1); });
  document.getElementById("reset").addEventListener("click", function () { show(0); });
  slider.addEventListener("input", function () { show(parseInt(slider.value, 10)); });

  // Zoom and pan: the view is a window (x, y, scale) onto the picture, kept in the viewBox.
  // A big graph opens at a readable scale showing its output (on the right), never shrunk
  // to illegible text; "fit" shows all of it.
  const MIN_READABLE = 1;  // labels as drawn (14 px, notes 12 px): a big graph starts no smaller
  const view = { x: 0, y: 0, s: 1 };
  let svg = null, W = 1, H = 1;

  function size() { return { w: canvas.clientWidth || 800, h: canvas.clientHeight || 500 }; }
  function apply() {
    const c = size();
    svg.setAttribute("viewBox", view.x + " " + view.y + " " + c.w / view.s + " " + c.h / view.s);
    document.body.setAttribute("data-zoom", view.s.toFixed(3));
  }
  function fitScale() { const c = size(); return Math.min(c.w / W, c.h / H, 2); }
  function fit() {
    const c = size();
    view.s = fitScale();
    view.x = -(c.w / view.s - W) / 2;
    view.y = -(c.h / view.s - H) / 2;
    apply();
  }
  function zoomAt(factor, px, py) {  // keep the picture's point under (px, py) where it is
    const s = Math.max(0.05, Math.min(8, view.s * factor));
    view.x += px / view.s - px / s;
    view.y += py / view.s - py / s;
    view.s = s;
    apply();
  }
  function start(wholeGraph) {  // a new picture: its size, then the starting view
    svg = canvas.querySelector("svg");
    if (!svg.hasAttribute("data-size")) {  // the picture's own size, before a view changes its viewBox
      const full = svg.viewBox.baseVal;
      svg.setAttribute("data-size", full.width + " " + full.height);
    }
    const own = svg.getAttribute("data-size").split(" ");
    W = parseFloat(own[0]); H = parseFloat(own[1]);
    svg.removeAttribute("style");
    svg.setAttribute("width", "100%");
    svg.setAttribute("height", "100%");
    svg.setAttribute("preserveAspectRatio", "xMinYMin meet");
    // the canvas is as tall as the picture at its starting scale, within the window
    const s0 = Math.max(Math.min(1, (canvas.clientWidth || 800) / W), MIN_READABLE);
    canvas.style.height = Math.max(260, Math.min(H * s0 + 20, window.innerHeight * 0.75)) + "px";
    if (fitScale() >= MIN_READABLE || wholeGraph) {
      fit();
    } else {  // readable, with the output's end in view
      const c = size();
      view.s = MIN_READABLE;
      view.x = W - c.w / view.s;
      view.y = (H - c.h / view.s) / 2;  // centred: a short picture sits mid-canvas
      apply();
    }
  }

  // Folded modules: another picture of the same graph, with the same steps.
  function open(key) {
    if (!data.views || !data.views[key]) return;
    canvas.innerHTML = data.views[key].svg;
    steps = data.views[key].steps;
    document.body.setAttribute("data-view", key);
    start(false);
    show(current);
  }
  if (data.views) {
    document.getElementById("fold").addEventListener("click", function () { open(""); });
    document.getElementById("unfold").addEventListener("click", function () { open("*"); });
    document.body.setAttribute("data-view", "");
  }

  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    const r = canvas.getBoundingClientRect();
    zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  let drag = null, moved = 0;
  canvas.addEventListener("pointerdown", function (ev) {
    drag = { x: ev.clientX, y: ev.clientY };
    moved = 0;
  });
  canvas.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    moved += Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y);
    if (moved > 4 && !canvas.classList.contains("dragging")) {
      canvas.setPointerCapture(ev.pointerId);
      canvas.classList.add("dragging");
    }
    view.x -= (ev.clientX - drag.x) / view.s;
    view.y -= (ev.clientY - drag.y) / view.s;
    drag = { x: ev.clientX, y: ev.clientY };
    apply();
  });
  function endDrag() { drag = null; canvas.classList.remove("dragging"); }
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("click", function (ev) {  // a click, not the end of a drag, opens a module
    if (moved > 4) return;
    const group = ev.target.closest ? ev.target.closest("g.node.group[data-view]") : null;
    if (group) open(group.getAttribute("data-view"));
  });
  function centre(factor) { const c = size(); zoomAt(factor, c.w / 2, c.h / 2); }
  document.getElementById("zoom-in").addEventListener("click", function () { centre(1.25); });
  document.getElementById("zoom-out").addEventListener("click", function () { centre(0.8); });
  document.getElementById("zoom-fit").addEventListener("click", fit);
  document.getElementById("zoom-one").addEventListener("click", function () {
    const c = size();
    const cx = view.x + c.w / view.s / 2, cy = view.y + c.h / view.s / 2;
    view.s = 1;
    view.x = cx - c.w / 2;
    view.y = cy - c.h / 2;
    apply();
  });
  window.addEventListener("resize", apply);

  // a link may open the page at a step and zoom: page.html#step=3 (#step=end: the whole
  // backward pass), #zoom=fit (the whole graph), #open=fc1 (a folded module opened)
  const hash = decodeURIComponent(window.location.hash);
  const asked = /step=(\d+|end)/.exec(hash);
  const opened = /open=([^&]*)/.exec(hash);
  if (opened) open(opened[1]);
  start(/zoom=fit/.test(hash));
  show(asked ? (asked[1] === "end" ? steps.length : parseInt(asked[1], 10)) : 0);
})();
