// A product's price over time: a stepped line (a price holds until the next change) drawn
// from the page's json_script data, and the history table beside it. When live.js reports
// a new base price for this product, both grow by one entry without a reload.
(function () {
  "use strict";
  const dataEl = document.getElementById("price-history-data");
  if (!dataEl) return;
  const data = JSON.parse(dataEl.textContent);
  const canvas = document.getElementById("price-chart");
  const rows = document.getElementById("price-history-rows");
  const announce = document.getElementById("price-announce");
  const BRAND = "#1d4ed8";
  const DAY_MS = 86400000;

  // Chart.js's linear axis takes numbers: times are milliseconds, prices plain numbers.
  const points = data.points.map(function (p) { return { x: Date.parse(p.t), y: Number(p.price) }; });

  function money(amount) {
    return Number(amount).toFixed(data.decimals) + " " + data.currency;
  }

  // Axis labels: days for a long history, hours and minutes for a young product's.
  function formatTick(ms) {
    const span = this.max - this.min;
    const options = span > 2 * DAY_MS
      ? { day: "numeric", month: "short", timeZone: "UTC" }
      : { hour: "2-digit", minute: "2-digit", timeZone: "UTC" };
    return new Date(ms).toLocaleString(undefined, options);
  }

  // The same shape as the server's "Y-m-d H:i", in UTC like the rest of the table.
  function formatUtc(ms) {
    return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
  }

  // The last price holds until now: draw it on to the right edge.
  function series() {
    if (!points.length) return [];
    const last = points[points.length - 1];
    return points.concat([{ x: Math.max(Date.now(), last.x), y: last.y }]);
  }

  // The axis spans the history exactly, from the first price to now, not a rounded range.
  function fitAxis(scale) {
    const data = series();
    if (!data.length) return scale;
    scale.min = data[0].x;
    scale.max = data[data.length - 1].x;
    return scale;
  }

  let chart = null;
  if (canvas && window.Chart) {
    chart = new window.Chart(canvas, {
      type: "line",
      data: {
        datasets: [{
          label: "Base price (" + data.currency + ")",
          data: series(),
          stepped: "before",
          borderColor: BRAND,
          backgroundColor: "rgba(29, 78, 216, .08)",
          fill: true,
          borderWidth: 2,
          pointRadius: function (ctx) { return ctx.dataIndex < points.length ? 3 : 0; },
          pointHoverRadius: 5,
        }],
      },
      options: {
        maintainAspectRatio: false,
        animation: { duration: 250 },
        interaction: { mode: "nearest", intersect: false },
        plugins: {
          legend: { display: false },
          tooltip: {
            filter: function (item) { return item.dataIndex < points.length; },
            callbacks: {
              title: function (items) { return items.length ? formatUtc(items[0].parsed.x) + " UTC" : ""; },
              label: function (item) { return money(item.parsed.y); },
            },
          },
        },
        scales: {
          x: fitAxis({ type: "linear", ticks: { maxTicksLimit: 8, callback: formatTick }, grid: { display: false } }),
          y: { beginAtZero: false, grace: "10%", ticks: { callback: function (v) { return money(v); } } },
        },
      },
    });
    canvas.dataset.points = String(points.length);
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function prependRow(event, ms) {
    if (!rows) return;
    const row = document.createElement("tr");
    row.className = "flash";
    const when = document.createElement("time");
    when.dateTime = event.changed_at;
    when.textContent = formatUtc(ms);
    cell(row, "").appendChild(when);
    // The event's amounts are already strings with the currency's decimals.
    const shown = event.price + " " + event.currency;
    cell(row, shown, "num price");
    const change = cell(row, event.previous_price === null ? "first price" : event.previous_price + " " + event.currency + " → " + shown);
    const delta = Number(event.price) - Number(event.previous_price);
    if (event.previous_price !== null && delta !== 0) {
      const arrow = document.createElement("span");
      arrow.className = delta > 0 ? "up" : "down";
      arrow.title = delta > 0 ? "up" : "down";
      arrow.textContent = delta > 0 ? " ▲" : " ▼";
      change.appendChild(arrow);
    }
    cell(row, data.sources[event.source] || event.source);
    cell(row, "—", "muted");
    rows.insertBefore(row, rows.firstChild);
  }

  document.addEventListener("pricelab:price", function (e) {
    const event = e.detail;
    // Only changes of this product's base price: (de)activation and experiment starts
    // change what some visitors see, not the price recorded here.
    if (!event || event.sku !== data.sku || event.price === null || event.price === event.previous_price) return;
    const ms = Date.parse(event.changed_at) || Date.now();
    points.push({ x: ms, y: Number(event.price) });
    if (chart) {
      chart.data.datasets[0].data = series();
      fitAxis(chart.options.scales.x);
      chart.update();
      canvas.dataset.points = String(points.length);
    }
    prependRow(event, ms);
    if (announce) announce.textContent = data.name + " now costs " + event.price + " " + event.currency + ".";
  });
})();
