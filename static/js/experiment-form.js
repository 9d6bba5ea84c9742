// The experiment design form: variant rows added and removed in place (a Django formset
// underneath), an even split of the weights, their running total, the product's currency
// and price as hints, and the sample-size calculator kept in step with the design.
(function () {
  "use strict";
  const PREFIX = "variants";
  // Five decimals: what a variant's weight stores.
  const WEIGHT_SCALE = 100000;

  const form = document.querySelector("[data-experiment-form]");
  const calculator = document.querySelector("[data-calculator]");

  // "Use as target sample size" lives in the calculator's result, which htmx replaces.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-use-target]");
    if (!button) return;
    const input = document.getElementById("id_target_sample_size");
    if (!input) return;
    input.value = button.dataset.useTarget;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.focus();
    button.textContent = "Target set to " + Number(button.dataset.useTarget).toLocaleString("en");
  });

  if (!form) return;
  const body = form.querySelector(".variant-table");
  const template = document.getElementById("variant-row-template");
  const total = form.querySelector("#id_" + PREFIX + "-TOTAL_FORMS");
  const initial = form.querySelector("#id_" + PREFIX + "-INITIAL_FORMS");
  const maxForms = Number(form.querySelector("#id_" + PREFIX + "-MAX_NUM_FORMS").value);
  const minForms = Number(form.querySelector("#id_" + PREFIX + "-MIN_NUM_FORMS").value);
  const addButton = form.querySelector("[data-add-variant]");
  const splitButton = form.querySelector("[data-even-split]");
  const weightTotal = form.querySelector("[data-weight-total]");
  const product = form.querySelector("#id_product");

  function rows() {
    return Array.from(body.querySelectorAll("[data-variant-row]"));
  }

  // After a removal, rows are numbered 0..n-1 again, as the formset expects.
  function renumber() {
    const pattern = new RegExp("^(id_)?" + PREFIX + "-(\\d+|__prefix__)-");
    rows().forEach(function (row, index) {
      row.querySelectorAll("input, select, label").forEach(function (el) {
        ["name", "id", "for"].forEach(function (attr) {
          const value = el.getAttribute(attr);
          if (value && pattern.test(value)) el.setAttribute(attr, value.replace(pattern, "$1" + PREFIX + "-" + index + "-"));
        });
      });
      const radio = row.querySelector("input[type=radio][name=control]");
      const radioLabel = row.querySelector("label[for^=control-]");
      radio.value = String(index);
      radio.id = "control-" + index;
      radioLabel.setAttribute("for", radio.id);
      row.querySelectorAll("[data-row-number]").forEach(function (span) { span.textContent = String(index + 1); });
    });
    const count = rows().length;
    total.value = String(count);
    initial.value = String(Math.min(Number(initial.value), count));
    addButton.disabled = count >= maxForms;
    rows().forEach(function (row) {
      row.querySelector("[data-remove-variant]").disabled = count <= minForms;
    });
    if (!body.querySelector("input[name=control]:checked") && rows()[0]) {
      rows()[0].querySelector("input[name=control]").checked = true;
    }
    syncCalculator();
    showTotal();
  }

  function showTotal() {
    const weights = rows().map(function (row) { return row.querySelector("input[name$=-weight]").value; });
    if (weights.some(function (w) { return w.trim() === ""; })) {
      weightTotal.textContent = "Fill in every weight; together they must make 1.";
      weightTotal.dataset.state = "warn";
      return;
    }
    const sum = weights.reduce(function (acc, w) { return acc + Math.round(Number(w) * WEIGHT_SCALE); }, 0) / WEIGHT_SCALE;
    const ok = Math.abs(sum - 1) <= 0.0001;
    weightTotal.textContent = "Weights add up to " + sum.toFixed(5).replace(/0+$/, "").replace(/\.$/, "") + (ok ? " ✓" : " — they must add up to 1");
    weightTotal.dataset.state = ok ? "ok" : "warn";
  }

  function evenSplit() {
    const all = rows();
    const share = Math.floor(WEIGHT_SCALE / all.length);
    all.forEach(function (row, index) {
      // The last row takes the remainder so the total is exactly 1.
      const units = index === all.length - 1 ? WEIGHT_SCALE - share * (all.length - 1) : share;
      row.querySelector("input[name$=-weight]").value = (units / WEIGHT_SCALE).toFixed(5);
    });
    showTotal();
  }

  function addRow() {
    if (rows().length >= maxForms) return;
    const fragment = template.content.cloneNode(true);
    const row = fragment.querySelector("[data-variant-row]");
    row.querySelectorAll("input").forEach(function (input) {
      if (input.type !== "radio") input.value = "";
    });
    row.querySelector("input[type=radio]").checked = false;
    body.appendChild(fragment);
    renumber();
    evenSplit();
    body.lastElementChild.querySelector("input[name$=-key]").focus();
  }

  function selectedProduct() {
    return product && product.selectedOptions[0] && product.selectedOptions[0].value ? product.selectedOptions[0] : null;
  }

  // The price column says the product's currency; the control starts at today's price.
  function applyProduct() {
    const option = selectedProduct();
    form.querySelectorAll("[data-currency-label]").forEach(function (el) {
      el.textContent = option ? "(" + option.dataset.currency + ")" : "";
    });
    if (!option) return;
    const control = body.querySelector("input[name=control]:checked");
    const row = control ? control.closest("[data-variant-row]") : null;
    const price = row ? row.querySelector("input[name$=-price]") : null;
    if (price && price.value.trim() === "") price.value = option.dataset.price;
    rows().forEach(function (r) {
      r.querySelector("input[name$=-price]").placeholder = option.dataset.price;
    });
  }

  // The calculator follows the design: the number of variants and the product's traffic.
  function syncCalculator() {
    if (!calculator) return;
    const variants = calculator.querySelector("#id_calc-variants");
    const calcProduct = calculator.querySelector("#id_calc-product");
    let changed = null;
    if (variants && variants.value !== String(rows().length)) {
      variants.value = String(rows().length);
      changed = variants;
    }
    const option = selectedProduct();
    if (calcProduct && option && calcProduct.value !== option.value) {
      calcProduct.value = option.value;
      changed = calcProduct;
    }
    // An input event from the changed field lets htmx recompute, as if the person typed.
    if (changed) changed.dispatchEvent(new Event("input", { bubbles: true }));
  }

  body.addEventListener("click", function (event) {
    const remove = event.target.closest("[data-remove-variant]");
    if (!remove || rows().length <= minForms) return;
    remove.closest("[data-variant-row]").remove();
    renumber();
  });
  body.addEventListener("input", function (event) {
    if (event.target.name && event.target.name.endsWith("-weight")) showTotal();
  });
  addButton.addEventListener("click", addRow);
  splitButton.addEventListener("click", evenSplit);
  if (product) product.addEventListener("change", function () { applyProduct(); syncCalculator(); });

  // After htmx has set up the calculator (it starts on DOMContentLoaded too, registered
  // first), so the calculator can follow a product already chosen in a re-shown form.
  function start() {
    applyProduct();
    renumber();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
