// Webhooks pages: the deliveries and attempts refresh by htmx polling (hx-trigger="every 5s").
// A refresh replaces the table, so it waits while the person is busy with it: while the
// confirm dialog is open (its form would be swapped out from under it and never submit),
// while they have text selected in it (an event id being copied), and while the tab is hidden.
(function () {
  "use strict";

  const POLLED = ["webhook-live", "webhook-attempts"];

  function busy(element) {
    const dialog = document.getElementById("confirm-dialog");
    if (dialog && dialog.open) return true;
    if (document.hidden) return true;
    const selection = window.getSelection && window.getSelection();
    return Boolean(selection && !selection.isCollapsed && element.contains(selection.anchorNode));
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    const element = event.detail && event.detail.elt;
    if (element && POLLED.indexOf(element.id) !== -1 && busy(element)) event.preventDefault();
  });
})();
