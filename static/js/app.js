// Pricelab's page behaviour: confirmations, copying, small conveniences. No inline scripts:
// pages describe what they need with data- attributes and this file does the rest.
(function () {
  "use strict";

  // A form with data-confirm="…" asks first, in the page's one <dialog>.
  // Its submit button's data-confirm-label names the action ("Revoke key").
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || form.dataset.confirmed) return;
    const dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") return; // the browser confirms nothing: submit
    event.preventDefault();
    event.stopImmediatePropagation();
    const submitter = event.submitter || null;
    document.getElementById("confirm-title").textContent = form.dataset.confirmTitle || "Are you sure?";
    document.getElementById("confirm-text").textContent = form.dataset.confirm;
    const ok = document.getElementById("confirm-ok");
    ok.textContent = form.dataset.confirmLabel || "Confirm";
    dialog.returnValue = "";
    dialog.addEventListener("close", function onClose() {
      dialog.removeEventListener("close", onClose);
      if (dialog.returnValue !== "confirm") return;
      form.dataset.confirmed = "1";
      if (typeof form.requestSubmit === "function") form.requestSubmit(submitter);
      else form.submit();
      delete form.dataset.confirmed;
    });
    dialog.showModal();
    document.getElementById("confirm-dialog").querySelector("button[value=cancel]").focus();
  }, true);

  // <button data-copy="#selector"> copies that element's value or text.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const text = "value" in source ? source.value : source.textContent;
    const done = function () {
      const label = button.textContent;
      button.textContent = "Copied";
      button.setAttribute("aria-live", "polite");
      setTimeout(function () { button.textContent = label; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { source.select && source.select(); });
    } else if (source.select) {
      source.select();
      document.execCommand("copy");
      done();
    }
  });

  // A region refreshed by htmx polling (hx-trigger="every …") waits while the person is
  // busy with it: a swap would pull a form out from under the open confirm dialog (its
  // confirmed submit then goes nowhere), or drop the text they are selecting to copy.
  // It also waits while the tab is hidden.
  function busy(element) {
    const dialog = document.getElementById("confirm-dialog");
    if (dialog && dialog.open) return true;
    if (document.hidden) return true;
    const selection = window.getSelection && window.getSelection();
    return Boolean(selection && !selection.isCollapsed && element.contains(selection.anchorNode));
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    const element = event.detail && event.detail.elt;
    const trigger = element && element.getAttribute && element.getAttribute("hx-trigger");
    if (trigger && /\bevery\b/.test(trigger) && busy(element)) event.preventDefault();
  });

  // A session that ended while a page was open: htmx would follow the redirect and put the
  // login form inside the refreshed region. Go to the login page instead.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const xhr = event.detail && event.detail.xhr;
    if (!xhr || !xhr.responseURL) return;
    const url = new URL(xhr.responseURL);
    if (url.pathname === "/login/") {
      event.detail.shouldSwap = false;
      window.location.assign(url.pathname + "?next=" + encodeURIComponent(location.pathname + location.search));
    }
  });

  // Meters carry their fill as data-width="0…100": the CSP refuses style="" attributes,
  // while setting the style from a script is allowed. Runs on the page and on every
  // fragment htmx swaps in.
  function fillMeters(root) {
    root.querySelectorAll(".meter > span[data-width]").forEach(function (bar) {
      const width = Math.max(0, Math.min(100, parseFloat(bar.dataset.width) || 0));
      bar.style.width = width + "%";
    });
  }
  fillMeters(document);
  document.addEventListener("htmx:load", function (event) {
    if (event.target && event.target.querySelectorAll) fillMeters(event.target);
  });

  // After a refused submit, start where the problem is: the first field marked invalid,
  // else the form's own error summary.
  const invalid = document.querySelector('main [aria-invalid="true"]');
  const summary = document.querySelector("main .form-errors");
  if (invalid) invalid.focus();
  else if (summary) { summary.setAttribute("tabindex", "-1"); summary.focus(); }
})();
