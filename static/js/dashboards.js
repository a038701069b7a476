/* Tally dashboards: draws the charts (Chart.js, vendored) from data the page embeds with
   json_script, and submits the period picker on change. No inline scripts: every number
   a chart shows is also in a table on the page. */
(function () {
  "use strict";

  var css = getComputedStyle(document.documentElement);
  var ACCENT = (css.getPropertyValue("--accent") || "#2f54d1").trim();
  var MUTED = (css.getPropertyValue("--muted") || "#596274").trim();
  var LINE = (css.getPropertyValue("--line") || "#e2e6ee").trim();

  function money(currency) {
    var format;
    try {
      format = new Intl.NumberFormat(undefined, { style: "currency", currency: currency });
    } catch (e) {
      format = new Intl.NumberFormat();
    }
    return function (value) { return format.format(value); };
  }

  function numbers(values) {
    // Amounts travel as strings (exact decimals); a chart only needs them to draw.
    return (values || []).map(function (v) { return v === null ? null : Number(v); });
  }

  function draw(canvas) {
    if (typeof Chart === "undefined") { return; }
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    var fmt = money(canvas.dataset.currency || "USD");
    var datasets = [{
      type: "bar",
      label: canvas.dataset.actualLabel || "Spend",
      data: numbers(data.actual),
      backgroundColor: ACCENT,
      borderRadius: 3,
      maxBarThickness: 36,
    }];
    if (data.projected && data.projected.some(function (v) { return v !== null; })) {
      datasets.push({
        type: "bar",
        label: canvas.dataset.projectedLabel || "Projected",
        data: numbers(data.projected),
        backgroundColor: "rgba(47, 84, 209, 0.22)",
        borderColor: ACCENT,
        borderWidth: { top: 1, left: 0, right: 0, bottom: 0 },
        borderDash: [4, 3],
        borderRadius: 3,
        maxBarThickness: 36,
      });
    }
    new Chart(canvas, {
      data: { labels: data.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: datasets.length > 1, labels: { color: MUTED, boxWidth: 12 } },
          tooltip: { callbacks: { label: function (ctx) {
            return ctx.dataset.label + ": " + fmt(ctx.parsed.y);
          } } },
        },
        scales: {
          x: { stacked: true, grid: { display: false },
               ticks: { color: MUTED, maxRotation: 0, autoSkip: true, autoSkipPadding: 8,
                        callback: function (value) {
                          var label = this.getLabelForValue(value);
                          return label.length === 10 ? label.slice(8) : label;
                        } } },
          y: { stacked: true, beginAtZero: true, grid: { color: LINE },
               ticks: { color: MUTED, callback: function (v) { return fmt(v); } } },
        },
      },
    });
  }

  function init() {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
    document.querySelectorAll("form.period-picker select").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    document.querySelectorAll("form.period-picker .go").forEach(function (button) {
      button.hidden = true;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
