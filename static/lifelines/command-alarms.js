// Command centre: the lifeline alarm queue (open alarms, most severe first, acknowledge from the list) and two map
// layers, alarms (facilities with an open alarm, coloured by the worst, pulsing when just raised) and all
// facilities. Kept up to date by the live feed's "alarm" events; the scoped API is the source on (re)load.
const LEVELS = { blue: 1, yellow: 2, orange: 3, red: 4 };
const COLOURS = { blue: "#2f6fd6", yellow: "#e0b400", orange: "#ee7d1a", red: "#d0312d" };
const OPEN = new Set(["raised", "acknowledged"]);
const PULSE_MS = 12_000;

function escapeHtml(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function installAlarms({ map, layers, text, csrf }) {
  const root = document.getElementById("alarm-queue");
  const list = root.querySelector("ol");
  const count = root.querySelector(".count");
  const alarms = new Map(); // id -> alarm (the live event's shape)
  const markers = new Map(); // facility id -> marker
  const pulsing = new Map(); // facility id -> until (ms)
  const alarmLayer = L.layerGroup().addTo(map);
  const facilityLayer = L.layerGroup();
  layers.addOverlay(alarmLayer, text.alarmLayer);
  layers.addOverlay(facilityLayer, text.facilityLayer);

  function age(at) {
    const minutes = Math.max(0, Math.round((Date.now() - new Date(at).getTime()) / 60000));
    if (minutes >= 1440) return `${Math.floor(minutes / 1440)}${text.days}`;
    if (minutes >= 60) return `${Math.floor(minutes / 60)}${text.hours} ${minutes % 60}${text.minutes}`;
    return `${minutes}${text.minutes}`;
  }

  function sorted() {
    return [...alarms.values()].sort((a, b) => (LEVELS[b.level] - LEVELS[a.level])
      || ((a.state === "raised" ? 0 : 1) - (b.state === "raised" ? 0 : 1)) || (new Date(b.raised_at) - new Date(a.raised_at)));
  }

  function render(freshId = null) {
    const rows = sorted();
    count.textContent = rows.length;
    if (!rows.length) { list.innerHTML = `<li class="q-empty">${escapeHtml(text.noAlarms)}</li>`; return; }
    list.replaceChildren(...rows.map((alarm) => {
      const li = document.createElement("li");
      li.className = "alarm-row" + (alarm.id === freshId ? " fresh" : "");
      li.dataset.alarm = alarm.id;
      li.dataset.level = alarm.level;
      li.dataset.state = alarm.state;
      const value = alarm.value === null || alarm.value === undefined ? "" : `${Number(alarm.value).toLocaleString()} ${alarm.unit || ""}`;
      li.innerHTML = `<span class="ll-level" data-state="${escapeHtml(alarm.level)}">${escapeHtml(text[alarm.level] || alarm.level)}</span>`
        + `<span class="a-where"><a href="/lifelines/facilities/${alarm.facility}/">${escapeHtml(alarm.facility_name)}</a></span>`
        + `<span class="a-age" data-at="${escapeHtml(alarm.raised_at)}">${age(alarm.raised_at)}</span>`
        + `<span class="a-sub">${escapeHtml(alarm.sensor_code)} · ${escapeHtml(value)}${alarm.state === "acknowledged" ? " · " + escapeHtml(text.acknowledged) : ""}</span>`
        + (alarm.state === "raised" ? `<button type="button" data-ack="${alarm.id}">${escapeHtml(text.acknowledge)}</button>` : "<span></span>");
      li.querySelector(".a-where").addEventListener("click", () => { if (alarm.lat) map.panTo([alarm.lat, alarm.lon]); });
      return li;
    }));
  }

  function drawFacility(facilityId) {
    const open = [...alarms.values()].filter((a) => a.facility === facilityId);
    const old = markers.get(facilityId);
    if (old) { old.remove(); markers.delete(facilityId); }
    if (!open.length) return;
    const worst = open.reduce((a, b) => (LEVELS[b.level] > LEVELS[a.level] ? b : a));
    const pulse = (pulsing.get(facilityId) || 0) > Date.now();
    const marker = L.marker([worst.lat, worst.lon], {
      icon: L.divIcon({ className: "", html: `<div class="alarm-marker${pulse ? " pulsing" : ""}" data-facility="${facilityId}" data-level="${worst.level}" style="background:${COLOURS[worst.level]}"></div>`, iconSize: [14, 14] }),
      title: worst.facility_name, zIndexOffset: 500 + LEVELS[worst.level] * 100,
    }).bindTooltip(`${escapeHtml(worst.facility_name)} · ${escapeHtml(text[worst.level])} (${open.length})`);
    marker.on("click", () => { window.location.href = `/lifelines/facilities/${facilityId}/`; });
    marker.addTo(alarmLayer);
    markers.set(facilityId, marker);
    if (pulse) setTimeout(() => drawFacility(facilityId), pulsing.get(facilityId) - Date.now() + 50);
  }

  async function reload() {
    try {
      const response = await fetch("/lifelines/open-alarms/", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      const data = await response.json();
      alarms.clear();
      for (const item of data.alarms) alarms.set(item.id, item);
    } catch (error) {
      console.warn("alarms", error);
      return;
    }
    for (const marker of markers.values()) marker.remove();
    markers.clear();
    for (const facilityId of new Set([...alarms.values()].map((a) => a.facility))) drawFacility(facilityId);
    render();
    root.dataset.loaded = "true";
  }

  async function loadFacilities() {
    const b = map.getBounds();
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
    const response = await fetch(`/api/v1/lifelines/facilities/?in_bbox=${bbox}&limit=1000`, { credentials: "same-origin" });
    if (!response.ok) return;
    facilityLayer.clearLayers();
    for (const feature of (await response.json()).features || []) {
      const [lon, lat] = feature.geometry.coordinates;
      const id = feature.id ?? feature.properties.id;
      L.circleMarker([lat, lon], { radius: 4, color: "#fff", weight: 1, fillColor: "#2e9d62", fillOpacity: 0.85 })
        .bindTooltip(escapeHtml(feature.properties.name))
        .on("click", () => { window.location.href = `/lifelines/facilities/${id}/`; })
        .addTo(facilityLayer);
    }
  }
  facilityLayer.on("add", loadFacilities);
  map.on("moveend", () => { if (map.hasLayer(facilityLayer)) loadFacilities(); });

  function onEvent(event) {
    const known = alarms.get(event.id);
    if (OPEN.has(event.state)) {
      const raisedAt = known?.raised_at || event.at;
      alarms.set(event.id, { ...known, ...event, raised_at: raisedAt });
      if (event.change === "raised") pulsing.set(event.facility, Date.now() + PULSE_MS);
    } else {
      alarms.delete(event.id);
    }
    drawFacility(event.facility);
    render(event.change === "raised" ? event.id : null);
  }

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-ack]");
    if (!button) return;
    button.disabled = true;
    const response = await fetch(`/api/v1/lifelines/alarms/${button.dataset.ack}/acknowledge/`, {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf, "Content-Type": "application/json" }, body: "{}",
    });
    if (response.ok) {
      const alarm = alarms.get(Number(button.dataset.ack));
      if (alarm) { alarm.state = "acknowledged"; render(); }
    } else {
      button.disabled = false;
    }
  });
  setInterval(() => { for (const span of list.querySelectorAll(".a-age")) span.textContent = age(span.dataset.at); }, 30_000);

  reload();
  return { onEvent, reload, alarms, alarmLayer, facilityLayer };
}
