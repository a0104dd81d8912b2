// Herald charts: turns each canvas[data-chart] (a spec from app/charts.py) into a Chart.js chart.
// Loaded with defer after the vendored Chart.js (templates/macros/charts.html: chart_assets).
// Colours come from CSS custom properties (--chart-*), so light and dark mode follow the theme;
// a colour-scheme or reduced-motion change rebuilds every chart with the new values.
(() => {
  "use strict";
  if (window.heraldCharts || typeof window.Chart === "undefined") return; // loaded twice, or no Chart.js

  const Chart = window.Chart;
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  const darkScheme = window.matchMedia("(prefers-color-scheme: dark)");

  function lang() {
    return document.documentElement.lang || undefined;
  }

  function formatter(spec, signed) {
    const number = new Intl.NumberFormat(lang(), { maximumFractionDigits: 1, signDisplay: signed ? "exceptZero" : "auto" });
    return (value) => (value === null || value === undefined ? "—" : number.format(value) + (spec.percent ? "%" : ""));
  }

  function palette(canvas) {
    const css = getComputedStyle(canvas);
    const read = (name) => css.getPropertyValue(name).trim();
    return {
      series: [1, 2, 3, 4, 5].map((n) => read(`--chart-${n}`)),
      text: read("--text"),
      muted: read("--muted"),
      grid: read("--chart-grid"),
      track: read("--chart-track"),
      surface: read("--surface"),
    };
  }

  // The gauge's number, drawn in the middle of the half doughnut.
  const gaugeLabel = {
    id: "heraldGaugeLabel",
    afterDraw(chart, _args, options) {
      if (!options.text) return;
      const { ctx, chartArea } = chart;
      const meta = chart.getDatasetMeta(0).data[0];
      const x = meta ? meta.x : (chartArea.left + chartArea.right) / 2;
      const y = meta ? meta.y : chartArea.bottom;
      const size = Math.max(16, Math.round((meta ? meta.innerRadius : 60) * 0.45));
      ctx.save();
      ctx.fillStyle = options.color;
      ctx.font = `700 ${size}px ${Chart.defaults.font.family}`;
      ctx.textAlign = "center";
      ctx.textBaseline = "alphabetic";
      ctx.fillText(options.text, x, y - 4);
      ctx.restore();
    },
  };

  function gaugeConfig(spec, colours) {
    const lo = spec.min;
    const hi = spec.max;
    const value = spec.value;
    const shown = value === null ? lo : Math.min(hi, Math.max(lo, value));
    return {
      type: "doughnut",
      data: {
        datasets: [{
          data: [shown - lo, hi - shown],
          backgroundColor: [colours.series[0], colours.track],
          borderWidth: 0,
        }],
      },
      options: {
        rotation: -90,
        circumference: 180,
        cutout: "68%",
        aspectRatio: 2,
        plugins: {
          legend: { display: false },
          tooltip: { enabled: false },
          heraldGaugeLabel: { text: formatter(spec, lo < 0)(value), color: colours.text },
        },
      },
      plugins: [gaugeLabel],
    };
  }

  function seriesConfig(spec, colours) {
    const format = formatter(spec, false);
    const horizontal = Boolean(spec.horizontal);
    const stacked = spec.type === "stacked";
    const isLine = spec.type === "line";
    const valueAxis = horizontal ? "x" : "y";
    const labelAxis = horizontal ? "y" : "x";
    const datasets = spec.datasets.map((dataset, i) => {
      const colour = colours.series[(spec.type === "funnel" ? 0 : i) % colours.series.length];
      return {
        label: dataset.label,
        data: dataset.data,
        borderColor: colour,
        backgroundColor: colour,
        borderWidth: isLine ? 3 : 0,
        pointRadius: isLine ? 4 : undefined,
        pointStyle: isLine ? ["circle", "rect", "triangle", "rectRot", "star"][i % 5] : undefined,
        spanGaps: false, // a suppressed point is a gap, never a line drawn through it
      };
    });
    // Counts (every value a whole number) get whole-number ticks: no "2.5 shares" on the axis.
    const whole = spec.datasets.every((d) => d.data.every((v) => v === null || Number.isInteger(v)));
    const scales = {
      [labelAxis]: {
        stacked,
        grid: { display: false },
        border: { color: colours.grid },
        ticks: { color: colours.text },
      },
      [valueAxis]: {
        stacked,
        min: spec.min ?? undefined,
        max: spec.max ?? undefined,
        beginAtZero: !isLine,
        grid: { color: colours.grid },
        border: { display: false },
        ticks: { color: colours.muted, callback: (value) => format(value), precision: whole ? 0 : undefined },
      },
    };
    return {
      type: isLine ? "line" : "bar",
      data: { labels: spec.labels, datasets },
      options: {
        indexAxis: labelAxis,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales,
        plugins: {
          legend: { display: datasets.length > 1, labels: { color: colours.text, usePointStyle: isLine } },
          tooltip: {
            callbacks: {
              label: (item) => `${item.dataset.label ? item.dataset.label + ": " : ""}${format(item.raw)}`,
            },
          },
        },
      },
    };
  }

  // Horizontal bars need room per label; a phone gets a shorter chart than a desktop.
  function sizeWrapper(canvas, spec) {
    const wrapper = canvas.parentElement;
    if (!wrapper || spec.type === "gauge") return;
    if (spec.horizontal) {
      const rows = spec.labels.length * Math.max(1, spec.type === "stacked" ? 1 : spec.datasets.length);
      wrapper.style.height = `${Math.max(160, rows * 36 + 72)}px`;
    }
  }

  function build(canvas) {
    let spec;
    try {
      spec = JSON.parse(canvas.dataset.chart);
    } catch (err) {
      console.warn("chart spec is not JSON", err);
      return;
    }
    const colours = palette(canvas);
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = colours.muted;
    const config = spec.type === "gauge" ? gaugeConfig(spec, colours) : seriesConfig(spec, colours);
    config.options.responsive = true;
    config.options.animation = reducedMotion.matches ? false : { duration: 400 };
    sizeWrapper(canvas, spec);
    new Chart(canvas, config);
    canvas.dataset.chartReady = "1";
  }

  // Charts whose canvas an htmx swap removed are destroyed, so Chart.js lets go of them.
  function forgetDetached() {
    Object.values(Chart.instances).forEach((chart) => {
      if (!chart.canvas || !chart.canvas.isConnected) chart.destroy();
    });
  }

  function drawNew(root) {
    forgetDetached();
    (root || document).querySelectorAll("canvas[data-chart]:not([data-chart-ready])").forEach(build);
  }

  function redrawAll() {
    document.querySelectorAll("canvas[data-chart][data-chart-ready]").forEach((canvas) => {
      const chart = Chart.getChart(canvas);
      if (chart) chart.destroy();
      delete canvas.dataset.chartReady;
    });
    drawNew(document);
  }

  window.heraldCharts = { drawNew, redrawAll };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => drawNew(document));
  } else {
    drawNew(document);
  }
  document.addEventListener("htmx:afterSettle", () => drawNew(document));
  darkScheme.addEventListener("change", redrawAll);
  reducedMotion.addEventListener("change", redrawAll);
})();
