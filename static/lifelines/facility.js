// Facility page (设施详情): one Apache ECharts chart per sensor over the chosen range, with the threshold lines of
// the sensor's active rules. The readings API downsamples in the database: raw points for short ranges, buckets
// (average with the min-max band) for long ones, never more than MAX_POINTS per chart.
/* global echarts */
const config = JSON.parse(document.getElementById("facility-config").textContent);
const text = JSON.parse(document.getElementById("lifelines-text").textContent);
const MAX_POINTS = 500;
const RANGES = { "24h": 24 * 3600e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
const LEVEL_COLOURS = { blue: "#2f6fd6", yellow: "#d4a900", orange: "#ee7d1a", red: "#d0312d" };

const charts = {}; // sensor id -> ECharts instance (also for the browser tests)
window.lifelinesCharts = charts;

function thresholdSeries(lines) {
  return {
    id: "thresholds",
    name: "thresholds",
    type: "line",
    data: [],
    silent: true,
    markLine: {
      symbol: "none",
      silent: true,
      data: lines.map((line) => ({
        name: `${text[line.level]} ${text[line.bound]}`,
        yAxis: line.value,
        lineStyle: { color: LEVEL_COLOURS[line.level], type: "dashed", width: 1.5 },
        label: { formatter: `{b} {c}`, position: "insideEndTop", color: LEVEL_COLOURS[line.level], fontSize: 11 },
      })),
    },
  };
}

function option(sensor, data) {
  const lines = sensor.thresholds;
  const values = lines.map((line) => line.value);
  const series = [];
  if (data.resolution === "bucket") {
    const mins = data.points.map((p) => [p.ts, p.min]);
    const spans = data.points.map((p) => [p.ts, p.max - p.min]);
    series.push({ name: text.range, type: "line", data: mins, stack: "band", symbol: "none", lineStyle: { opacity: 0 }, tooltip: { show: false } });
    series.push({ name: text.range, type: "line", data: spans, stack: "band", symbol: "none", lineStyle: { opacity: 0 }, areaStyle: { color: "rgba(27,116,209,.15)" }, tooltip: { show: false } });
    series.push({ id: "value", name: text.average, type: "line", data: data.points.map((p) => [p.ts, p.avg]), symbol: "none", lineStyle: { width: 1.5, color: "#1b74d1" } });
  } else {
    series.push({ id: "value", name: text.value, type: "line", data: data.points.map((p) => [p.ts, p.value]), symbol: data.points.length < 60 ? "circle" : "none", lineStyle: { width: 1.5, color: "#1b74d1" }, itemStyle: { color: "#1b74d1" } });
  }
  series.push(thresholdSeries(lines));
  // The axis always shows the thresholds, so a quiet sensor's chart still says how far it is from them.
  const pad = (bound) => (extent) => {
    const low = Math.min(extent.min, ...values);
    const high = Math.max(extent.max, ...values);
    const span = (high - low) || Math.abs(high) || 1;
    const step = 10 ** Math.floor(Math.log10(span)) / 2; // round outwards to a readable tick
    return bound === "min" ? Math.floor((low - span * 0.04) / step) * step : Math.ceil((high + span * 0.04) / step) * step;
  };
  return {
    animation: false,
    grid: { left: 48, right: 16, top: 16, bottom: 28 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "time", min: data.from, max: data.to },
    yAxis: { type: "value", min: pad("min"), max: pad("max"), name: sensor.unit, nameGap: 6, nameTextStyle: { align: "right" } },
    series,
  };
}

async function draw(sensor, from, to) {
  const box = document.querySelector(`[data-chart="${sensor.id}"]`);
  const res = document.querySelector(`[data-res="${sensor.id}"]`);
  if (!box) return;
  const chart = charts[sensor.id] || (charts[sensor.id] = echarts.init(box, null, { renderer: "canvas" }));
  box.dataset.thresholds = JSON.stringify(sensor.thresholds);
  res.textContent = text.loading;
  const url = config.readingsUrl.replace("{id}", sensor.id)
    + `?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}&max_points=${MAX_POINTS}`;
  let data;
  try {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(String(response.status));
    data = await response.json();
  } catch (error) {
    res.textContent = text.failed;
    return;
  }
  chart.setOption(option(sensor, data), true);
  res.textContent = data.points.length ? (data.bucket_s ? `${data.points.length} × ${Math.round(data.bucket_s / 60)} min` : `${data.points.length}`) : text.noData;
  box.dataset.resolution = data.resolution;
  box.dataset.ready = "true";
}

function showRange(name) {
  let from;
  let to = new Date();
  if (name === "custom") {
    const a = document.getElementById("range-from").value;
    const b = document.getElementById("range-to").value;
    if (!a) return;
    from = new Date(a);
    if (b) to = new Date(b);
    if (!(from < to)) return;
  } else {
    from = new Date(to.getTime() - RANGES[name]);
  }
  for (const button of document.querySelectorAll("[data-range]")) button.setAttribute("aria-pressed", String(button.dataset.range === name));
  for (const sensor of config.sensors) draw(sensor, from, to);
}

for (const button of document.querySelectorAll("[data-range]")) button.addEventListener("click", () => showRange(button.dataset.range));
window.addEventListener("resize", () => { for (const chart of Object.values(charts)) chart.resize(); });
showRange("24h");
