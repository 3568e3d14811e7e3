// The backward pass, one gate at a time: chainrule.viz.to_html embeds this script.
// Step k shows the state after k gates: every gradient filled in so far, the k-th gate
// highlighted, and its sentence from the explainer.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("steps").textContent);
  const steps = data.steps;
  const slider = document.getElementById("slider");
  const stepButton = document.getElementById("step");
  const backButton = document.getElementById("back");
  const sentence = document.getElementById("sentence");
  const counter = document.getElementById("counter");
  let current = 0;

  // A gradient's text: one tspan per row (a small matrix shows row by row), below the value.
  function writeGrad(text, value) {
    while (text.firstChild) text.removeChild(text.firstChild);
    if (value === null) return;
    const prefix = text.getAttribute("data-prefix") || "";
    value.split("\n").forEach(function (row, i) {
      const span = document.createElementNS("http://www.w3.org/2000/svg", "tspan");
      span.setAttribute("x", text.getAttribute("x"));
      span.setAttribute("dy", i === 0 ? "0" : "15");
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
    node.classList.add("has-grad");
  }

  function show(k) {
    current = Math.max(0, Math.min(steps.length, k));
    document.querySelectorAll("g.node").forEach(function (node) {
      node.classList.remove("active", "done", "has-grad");
      node.removeAttribute("data-grad");
      const text = node.querySelector("text.grad");
      if (text) writeGrad(text, null);
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
  show(0);
})();
