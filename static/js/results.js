// Experiment results charts. The page renders the numbers (#results-data, a json_script) and
// polls them with htmx every few seconds; after each swap the charts are updated in place,
// without animation, so nothing flashes or jumps while a person reads them.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") return;

  const DATA_ID = "results-data";
  // Control first in a calm grey-blue, then distinct colours that stay readable on white.
  const CONTROL_COLOUR = "#52606d";
  const PALETTE = ["#1d4ed8", "#0f7a3d", "#b45309", "#7c3aed", "#be185d", "#0e7490", "#4d7c0f", "#9f1239", "#334155"];
  const WIN = "#0f7a3d";
  const LOSE = "#b42318";
  const UNSURE = "#9aa5b1";

  const charts = {};

  function read() {
    const node = document.getElementById(DATA_ID);
    return node ? JSON.parse(node.textContent) : null;
  }

  function colours(variants) {
    let next = 0;
    return variants.map(function (v) {
      return v.is_control ? CONTROL_COLOUR : PALETTE[next++ % PALETTE.length];
    });
  }

  function percent(value, digits) {
    return value === null || value === undefined ? "—" : (value * 100).toFixed(digits) + " %";
  }

  function signed(value) {
    if (value === null || value === undefined) return "—";
    const text = (value * 100).toFixed(1) + " %";
    return value > 0 ? "+" + text : text.replace("-", "\u2212");
  }

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#52606d";
  Chart.defaults.maintainAspectRatio = false;

  // Per variant: a floating bar for the 95 % interval and a dot for the value itself.
  function intervalData(data, field) {
    const variants = data.variants;
    return {
      labels: variants.map(function (v) { return v.key; }),
      intervals: variants.map(function (v) { return v[field + "_ci"] || null; }),
      values: variants.map(function (v) { return v[field]; }),
      colours: colours(variants),
    };
  }

  function intervalConfig(data, field, format) {
    const d = intervalData(data, field);
    return {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: [
          {
            type: "bar",
            label: "95 % interval",
            data: d.intervals,
            backgroundColor: d.colours.map(function (c) { return c + "33"; }),
            borderColor: d.colours,
            borderWidth: 1,
            borderSkipped: false,
            barPercentage: 0.35,
            order: 2,
          },
          {
            type: "line",
            label: field === "conversion_rate" ? "Conversion rate" : "Revenue per visitor",
            data: d.values,
            showLine: false,
            pointRadius: 6,
            pointHoverRadius: 7,
            pointBackgroundColor: d.colours,
            pointBorderColor: "#fff",
            pointBorderWidth: 2,
            order: 1,
          },
        ],
      },
      options: {
        animation: { duration: 300 },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                if (Array.isArray(ctx.raw)) return "95 % interval: " + format(ctx.raw[0]) + " to " + format(ctx.raw[1]);
                return ctx.dataset.label + ": " + format(ctx.raw);
              },
            },
          },
        },
        scales: {
          y: { beginAtZero: true, ticks: { callback: function (v) { return format(v); } } },
          x: { grid: { display: false } },
        },
      },
    };
  }

  // The interval charts have the same two datasets: interval bars (tinted by ``alpha``, a
  // hex opacity) and a point per variant. A poll replaces their data in place.
  function setIntervals(chart, d, points, alpha) {
    chart.data.labels = d.labels;
    chart.data.datasets[0].data = d.intervals;
    chart.data.datasets[0].backgroundColor = d.colours.map(function (c) { return c + alpha; });
    chart.data.datasets[0].borderColor = d.colours;
    chart.data.datasets[1].data = points;
    chart.data.datasets[1].pointBackgroundColor = d.colours;
  }

  function updateInterval(chart, data, field) {
    const d = intervalData(data, field);
    setIntervals(chart, d, d.values, "33");
  }

  // Uplift over control on the primary metric: horizontal interval bars around 0.
  function upliftData(data) {
    const rows = (data.comparisons[data.primary_metric] || []);
    return {
      labels: rows.map(function (c) { return c.variant; }),
      intervals: rows.map(function (c) { return c.ci; }),
      lifts: rows.map(function (c) { return c.lift; }),
      colours: rows.map(function (c) {
        if (!c.ci) return UNSURE;
        if (c.ci[0] > 0) return WIN;
        if (c.ci[1] < 0) return LOSE;
        return UNSURE;
      }),
    };
  }

  function upliftConfig(data) {
    const d = upliftData(data);
    return {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: [
          {
            type: "bar",
            label: "95 % interval",
            data: d.intervals,
            backgroundColor: d.colours.map(function (c) { return c + "55"; }),
            borderColor: d.colours,
            borderWidth: 1,
            borderSkipped: false,
            barPercentage: 0.45,
            order: 2,
          },
          {
            type: "line",
            label: "Uplift",
            data: d.lifts,
            showLine: false,
            pointRadius: 6,
            pointStyle: "rectRot",
            pointBackgroundColor: d.colours,
            pointBorderColor: "#fff",
            order: 1,
          },
        ],
      },
      options: {
        indexAxis: "y",
        animation: { duration: 300 },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                if (Array.isArray(ctx.raw)) return "95 % interval: " + signed(ctx.raw[0]) + " to " + signed(ctx.raw[1]);
                return "Uplift: " + signed(ctx.raw);
              },
            },
          },
        },
        scales: {
          x: {
            ticks: { callback: function (v) { return signed(v); } },
            // The line at 0 (no difference) is what every interval is read against.
            grid: {
              color: function (ctx) { return ctx.tick && ctx.tick.value === 0 ? "#1f2933" : "#e4e7eb"; },
              lineWidth: function (ctx) { return ctx.tick && ctx.tick.value === 0 ? 2 : 1; },
            },
            suggestedMin: -0.05,
            suggestedMax: 0.05,
          },
          y: { grid: { display: false } },
        },
      },
    };
  }

  function updateUplift(chart, data) {
    const d = upliftData(data);
    setIntervals(chart, d, d.lifts, "55");
  }

  // "2026-11-18" → "18 Nov": the days are UTC dates, shown as such.
  function dayLabel(iso) {
    return new Date(iso + "T00:00:00Z").toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
  }

  // Cumulative conversion rate per variant, by day of first exposure.
  function cumulativeDatasets(data) {
    const series = data.series.variants;
    const palette = colours(series);
    return series.map(function (v, i) {
      return {
        label: v.key + (v.is_control ? " (control)" : ""),
        data: v.conversion_rate,
        borderColor: palette[i],
        backgroundColor: palette[i],
        borderWidth: 2,
        pointRadius: data.series.days.length > 20 ? 0 : 3,
        tension: 0.2,
        spanGaps: true,
      };
    });
  }

  function cumulativeConfig(data) {
    return {
      type: "line",
      data: { labels: data.series.days.map(dayLabel), datasets: cumulativeDatasets(data) },
      options: {
        animation: { duration: 300 },
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + ": " + percent(ctx.raw, 2); } } },
        },
        scales: {
          y: { beginAtZero: true, ticks: { callback: function (v) { return percent(v, 1); } } },
          x: { grid: { display: false } },
        },
      },
    };
  }

  function updateCumulative(chart, data) {
    const fresh = cumulativeDatasets(data);
    chart.data.labels = data.series.days.map(dayLabel);
    // Keep the dataset objects (Chart.js tracks them) and replace only their values.
    fresh.forEach(function (set, i) {
      if (chart.data.datasets[i]) Object.assign(chart.data.datasets[i], set);
      else chart.data.datasets.push(set);
    });
    chart.data.datasets.length = fresh.length;
  }

  function draw() {
    const data = read();
    if (!data) return;
    const money = function (v) { return v === null || v === undefined ? "—" : v.toFixed(2) + " " + data.currency; };
    const rate = function (v) { return percent(v, 2); };
    const specs = [
      ["chart-conversion", function () { return intervalConfig(data, "conversion_rate", rate); },
        function (c) { updateInterval(c, data, "conversion_rate"); }],
      ["chart-revenue", function () { return intervalConfig(data, "revenue_per_visitor", money); },
        function (c) { updateInterval(c, data, "revenue_per_visitor"); }],
      ["chart-uplift", function () { return upliftConfig(data); }, function (c) { updateUplift(c, data); }],
      ["chart-cumulative", function () { return cumulativeConfig(data); }, function (c) { updateCumulative(c, data); }],
    ];
    specs.forEach(function (spec) {
      const canvas = document.getElementById(spec[0]);
      if (!canvas) return;
      if (charts[spec[0]]) {
        spec[2](charts[spec[0]]);
        charts[spec[0]].update("none"); // no animation: numbers change, the picture stays put
      } else {
        charts[spec[0]] = new Chart(canvas, spec[1]());
      }
    });
  }

  draw();
  document.body.addEventListener("htmx:afterSwap", function (event) {
    const target = (event.detail && event.detail.target) || event.target;
    if (target && target.id === "results-live") draw();
  });
})();
