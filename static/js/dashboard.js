// The dashboard's live parts. static/js/live.js keeps the connection and updates every
// [data-live-price]; this file listens to its "pricelab:price" events and
// - prepends each change to the recent-changes table, keeping it at its fixed length;
// - keeps the price board in step: the last-change cell, experiment badges, products put
//   on or taken off sale.
(function () {
  "use strict";

  const recent = document.getElementById("recent-changes");
  const board = document.getElementById("live-board");
  const labelsEl = document.getElementById("price-source-labels");
  if (!recent || !board) return;
  const labels = labelsEl ? JSON.parse(labelsEl.textContent) : {};
  const maxRows = parseInt(recent.dataset.max, 10) || 10;
  // Sources that move a product's base price (the others announce experiments or sale status).
  const PRICE_MOVES = ["created", "manual", "api", "experiment"];

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function money(amount, currency) {
    return amount + " " + currency;
  }

  // Compare two amount strings of one currency ("9.90" and "12.00").
  function direction(previous, price) {
    const a = parseFloat(previous), b = parseFloat(price);
    if (isNaN(a) || isNaN(b) || a === b) return "";
    return b > a ? "up" : "down";
  }

  function show(wrapId, emptyId) {
    const wrap = document.getElementById(wrapId);
    if (wrap) wrap.hidden = false;
    const empty = document.getElementById(emptyId);
    if (empty) empty.remove();
  }

  function priceCell(event) {
    const td = el("td", null, "nowrap");
    if (event.price === null) {
      td.textContent = "off sale";
    } else if (event.previous_price === null || event.previous_price === event.price) {
      td.textContent = money(event.price, event.currency);
    } else {
      td.append(money(event.previous_price, event.currency) + " → ");
      td.append(el("strong", money(event.price, event.currency), direction(event.previous_price, event.price)));
    }
    return td;
  }

  function addRecent(event) {
    if (recent.querySelector('tr[data-version="' + event.version + '"]')) return; // a replay
    const row = el("tr", null, "flash");
    row.dataset.version = event.version;
    const what = el("td");
    const why = (labels[event.source] || event.source) + (event.experiment ? " · " + event.experiment : "");
    what.append(el("code", event.sku, "nowrap"), " ", el("span", why, "sub"));
    const when = el("td", null, "nowrap");
    const time = el("time", "just now");
    time.dateTime = event.changed_at;
    when.append(time);
    row.append(what, priceCell(event), when);
    recent.prepend(row);
    while (recent.rows.length > maxRows) recent.deleteRow(recent.rows.length - 1);
    show("recent-wrap", "recent-empty");
  }

  function boardRow(sku) {
    return Array.prototype.find.call(board.rows, function (row) { return row.dataset.sku === sku; });
  }

  // A product that came on sale after the page was drawn gets a row (its name is on the
  // Products page; the feed carries the sku).
  function addBoardRow(event) {
    const row = el("tr");
    row.dataset.sku = event.sku;
    const name = el("th", event.sku);
    name.scope = "row";
    const sub = el("span", null, "sub");
    sub.append(el("code", event.sku), " ", el("span", "new", "badge info"));
    const testing = el("span");
    testing.dataset.testing = "";
    sub.append(" ", testing);
    name.append(" ", sub);
    const priceTd = el("td", null, "num");
    const price = el("span", money(event.price, event.currency), "price flash");
    price.dataset.livePrice = event.sku;
    priceTd.append(price);
    const last = el("td");
    last.dataset.lastChange = "";
    row.append(name, priceTd, last);
    board.append(row);
    show("live-board-wrap", "live-board-empty");
    return row;
  }

  function updateBoard(event) {
    let row = boardRow(event.sku);
    if (!row) {
      if (event.price === null) return;
      row = addBoardRow(event);
    }
    const price = row.querySelector("[data-live-price]");
    if (event.source === "deactivated") {
      if (price) price.textContent = "off sale";
      row.classList.add("off-sale");
    } else if (event.source === "activated") {
      row.classList.remove("off-sale");
    }
    const testing = row.querySelector("[data-testing]");
    // "experiment" is a winner rolled out: the test is over, like "experiment_completed".
    if (testing && event.experiment && event.source.indexOf("experiment") === 0) {
      testing.textContent = "";
      if (event.source === "experiment_started") {
        const badge = el("a", "Testing " + event.experiment, "badge running");
        badge.href = "/experiments/" + encodeURIComponent(event.experiment) + "/";
        testing.append(badge);
      }
    }
    const last = row.querySelector("[data-last-change]");
    if (last && PRICE_MOVES.indexOf(event.source) !== -1) {
      last.textContent = "";
      const dir = event.previous_price === null ? "" : direction(event.previous_price, event.price);
      if (dir) {
        last.append(el("span", dir === "up" ? "▲ up" : "▼ down", dir));
        last.append(" from " + money(event.previous_price, event.currency));
      } else if (event.previous_price === null) {
        last.append("new");
      }
      const sub = el("span", null, "sub");
      const time = el("time", "just now");
      time.dateTime = event.changed_at;
      sub.append(time);
      last.append(" ", sub);
    }
  }

  document.addEventListener("pricelab:price", function (message) {
    const event = message.detail;
    if (!event || event.type !== "price.changed") return;
    addRecent(event);
    updateBoard(event);
  });
})();
