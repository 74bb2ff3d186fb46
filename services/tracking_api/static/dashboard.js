// ctrack engagement dashboard: fetches the /v1 JSON with the firm's API key and draws inline SVG.
// No library, no CDN. The key lives in this tab's sessionStorage only and travels in the
// Authorization header, never in a URL. Every text from the API goes in through textContent.
"use strict";

(() => {
  const KEY_STORAGE = "ctrack.apiKey";
  const SEASON_STORAGE = "ctrack.season";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const MAX_TIMELINE_PAGES = 50;
  const numbers = new Intl.NumberFormat("en-US");
  const $ = (id) => document.getElementById(id);

  // ---- formatting -------------------------------------------------------------------------

  const count = (value) => numbers.format(value);

  function percent(part, whole) {
    return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : "n/a";
  }

  function duration(seconds) {
    const t = Math.round(seconds);
    const days = Math.floor(t / 86400);
    const hours = Math.floor((t % 86400) / 3600);
    const minutes = Math.floor((t % 3600) / 60);
    if (days > 0) return `${days}d ${hours}h`;
    if (hours > 0) return `${hours}h ${minutes}m`;
    if (minutes > 0) return `${minutes}m ${t % 60}s`;
    return `${t}s`;
  }

  const utc = (iso) => iso.replace("T", " ").slice(0, 19);
  const words = (symbol) =>
    symbol ? symbol.charAt(0) + symbol.slice(1).toLowerCase().replaceAll("_", " ") : "";

  // ---- the API ----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path) {
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (!key) throw new ApiError(401, "enter the firm's API key first");
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${key}`, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
    if (!response.ok) throw new ApiError(response.status, await problem(response));
    return response.json();
  }

  async function problem(response) {
    try {
      const body = await response.json();
      if (typeof body.detail === "string") return body.detail;
      if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join("; ");
    } catch {
      // not JSON: fall back to the status text
    }
    return response.statusText || "request failed";
  }

  // ---- SVG helpers ------------------------------------------------------------------------

  function el(tag, attributes = {}, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function canvas(width, height, label) {
    return el("svg", {
      viewBox: `0 0 ${width} ${height}`,
      width: "100%",
      role: "img",
      "aria-label": label,
      preserveAspectRatio: "xMinYMin meet",
    });
  }

  function titled(node, text) {
    node.appendChild(el("title", {}, text));
    return node;
  }

  // Chart sizes in SVG units: text stays readable in a wide card and in a narrow one.
  const WIDE = { width: 640, labelWidth: 180, room: 300 };
  const NARROW = { width: 360, labelWidth: 122, room: 150 };

  // Horizontal bars; `total` adds each bar's share of it. rows: {key, label, value}
  function barChart(container, label, rows, total, size = NARROW) {
    const { width, labelWidth, room } = size;
    const rowHeight = 34;
    const svg = canvas(width, rows.length * rowHeight + 4, label);
    const max = Math.max(1, ...rows.map((row) => row.value));
    rows.forEach((row, index) => {
      const y = index * rowHeight + 4;
      const barWidth = (row.value / max) * room;
      svg.appendChild(el("text", { x: 0, y: y + 15, class: "label" }, row.label));
      const bar = el("rect", {
        x: labelWidth, y, width: barWidth.toFixed(2), height: 20, rx: 3,
        class: `bar ${row.className || ""}`, "data-bar": row.key, "data-value": row.value,
      });
      svg.appendChild(titled(bar, `${row.label}: ${count(row.value)}`));
      const value = el("text", { x: labelWidth + barWidth + 8, y: y + 15, class: "value" });
      value.appendChild(el("tspan", { "data-metric": row.key }, count(row.value)));
      if (total !== undefined) {
        value.appendChild(el("tspan", { class: "share" }, " ("));
        value.appendChild(el("tspan", { class: "share", "data-rate": row.key },
          percent(row.value, total)));
        value.appendChild(el("tspan", { class: "share" }, ")"));
      }
      svg.appendChild(value);
    });
    container.replaceChildren(svg);
  }

  // Time to each milestone: p50, p90, p99 bars on a log scale (minutes to weeks fit).
  function timingChart(container, timings) {
    const width = 360, labelWidth = 30, room = 230, groupHeight = 100;
    const svg = canvas(width, timings.length * groupHeight, "time to action");
    const all = timings.flatMap((t) => [t.p50_s, t.p90_s, t.p99_s]).filter((s) => s !== null);
    const top = Math.log10(1 + Math.max(60, ...all));
    const names = { first_open: "First open", access: "Access", esign: "E-sign" };
    timings.forEach((timing, index) => {
      const y = index * groupHeight;
      const heading = el("text", { x: 0, y: y + 14, class: "label" });
      heading.appendChild(el("tspan", { class: "strong" }, names[timing.milestone] || timing.milestone));
      heading.appendChild(el("tspan", {}, " - reached by "));
      heading.appendChild(el("tspan", { "data-metric": `timing.${timing.milestone}.reached` },
        count(timing.reached)));
      heading.appendChild(el("tspan", {}, ` of ${count(timing.returns_sent)} returns`));
      svg.appendChild(heading);
      ["p50", "p90", "p99"].forEach((quantile, row) => {
        const seconds = timing[`${quantile}_s`];
        const key = `timing.${timing.milestone}.${quantile}`;
        const by = y + 24 + row * 24;
        svg.appendChild(el("text", { x: 0, y: by + 13, class: "label" }, quantile));
        const barWidth = seconds === null ? 0 : (Math.log10(1 + seconds) / top) * room;
        const bar = el("rect", {
          x: labelWidth, y: by, width: barWidth.toFixed(2), height: 16, rx: 2,
          class: `bar ${quantile}`, "data-bar": key,
        });
        svg.appendChild(bar);
        const text = seconds === null ? "not reached" : duration(seconds);
        svg.appendChild(el("text", {
          x: labelWidth + barWidth + 8, y: by + 13, class: "value", "data-metric": key,
          "data-seconds": seconds === null ? "" : seconds,
        }, text));
      });
    });
    container.replaceChildren(svg);
  }

  // One column per day and series, side by side; series: {key, label, className, values}
  function columnChart(container, label, days, series) {
    const width = 360, height = 150, left = 30, bottom = 20, top = 10;
    const svg = canvas(width, height + 20, label);
    const max = Math.max(1, ...series.flatMap((s) => s.values));
    const slot = (width - left) / Math.max(1, days.length);
    const column = Math.max(0.5, (slot * 0.8) / series.length);
    const plot = height - bottom - top;
    svg.appendChild(el("line", { x1: left, y1: top + plot, x2: width, y2: top + plot, class: "axis" }));
    svg.appendChild(el("text", { x: left - 4, y: top + 8, class: "tick end", "data-max": max }, count(max)));
    svg.appendChild(el("text", { x: left - 4, y: top + plot, class: "tick end" }, "0"));
    series.forEach((s, index) => {
      const group = el("g", { "data-series": s.key });
      s.values.forEach((value, day) => {
        if (value === 0) return;
        const h = (value / max) * plot;
        const x = left + day * slot + index * column;
        group.appendChild(titled(el("rect", {
          x: x.toFixed(2), y: (top + plot - h).toFixed(2), width: column.toFixed(2),
          height: h.toFixed(2), class: `bar ${s.className}`, "data-day": days[day], "data-value": value,
        }), `${days[day]} ${s.label}: ${count(value)}`));
      });
      svg.appendChild(group);
    });
    axisDays(svg, days, left, width, height);
    legend(svg, series, width, height + 16);
    container.replaceChildren(svg);
  }

  // One polyline per series over the days; series: {key, label, className, values}
  function lineChart(container, label, days, series) {
    const width = 960, height = 220, left = 40, bottom = 20, top = 10;
    const svg = canvas(width, height + 20, label);
    const max = Math.max(1, ...series.flatMap((s) => s.values));
    const plot = height - bottom - top;
    const step = (width - left - 10) / Math.max(1, days.length - 1);
    svg.appendChild(el("line", { x1: left, y1: top + plot, x2: width, y2: top + plot, class: "axis" }));
    svg.appendChild(el("text", { x: left - 4, y: top + 8, class: "tick end", "data-max": max }, count(max)));
    svg.appendChild(el("text", { x: left - 4, y: top + plot, class: "tick end" }, "0"));
    series.forEach((s) => {
      const points = s.values.map((value, day) => {
        const x = left + (days.length === 1 ? 0 : day * step);
        return `${x.toFixed(2)},${(top + plot - (value / max) * plot).toFixed(2)}`;
      });
      const line = el("polyline", {
        points: points.join(" "), class: `line ${s.className}`, "data-series": s.key,
        "data-values": s.values.join(","),
      });
      svg.appendChild(titled(line, s.label));
    });
    axisDays(svg, days, left, width, height);
    legend(svg, series, width, height + 16);
    container.replaceChildren(svg);
  }

  function axisDays(svg, days, left, width, height) {
    if (!days.length) return;
    svg.appendChild(el("text", { x: left, y: height - 4, class: "tick" }, days[0]));
    svg.appendChild(el("text", { x: width, y: height - 4, class: "tick end" }, days[days.length - 1]));
  }

  function legend(svg, series, width, y) {
    let x = 30;
    for (const s of series) {
      svg.appendChild(el("rect", { x, y: y - 9, width: 10, height: 10, class: `bar ${s.className}` }));
      svg.appendChild(el("text", { x: x + 14, y, class: "tick" }, s.label));
      x += 24 + s.label.length * 7;
    }
  }

  // ---- figures (definition lists) ---------------------------------------------------------

  function figures(container, items) {
    container.replaceChildren(...items.flatMap(([label, text, attribute, key]) => {
      const term = document.createElement("dt");
      term.textContent = label;
      const value = document.createElement("dd");
      value.textContent = text;
      value.setAttribute(attribute, key);
      return [term, value];
    }));
  }

  // ---- the season -------------------------------------------------------------------------

  function renderSeason(season) {
    const { totals: t, return_funnel: f, reminders: r, invites: i } = season;
    barChart($("funnel-chart"), "return funnel", [
      { key: "funnel.sent", label: "Initial email processed", value: f.sent },
      { key: "funnel.delivered", label: "Delivered", value: f.delivered },
      { key: "funnel.opened", label: "Opened (human)", value: f.opened },
      { key: "funnel.accessed", label: "Accessed", value: f.accessed },
      { key: "funnel.esigned", label: "E-signed", value: f.esigned },
    ], f.sent, WIDE);
    figures($("rates"), [
      ["Emails processed", count(t.emails_processed), "data-metric", "totals.emails_processed"],
      ["Delivery rate", percent(t.emails_delivered, t.emails_processed), "data-rate", "delivery"],
      ["Human open rate", percent(t.emails_opened, t.emails_delivered), "data-rate", "open"],
      ["Bounce rate", percent(t.emails_bounced, t.emails_processed), "data-rate", "bounce"],
      ["Access rate (returns)", percent(f.accessed, f.sent), "data-rate", "access"],
      ["E-sign rate (returns)", percent(f.esigned, f.sent), "data-rate", "esign"],
    ]);
    timingChart($("timing-chart"), season.time_to_action);
    figures($("auth-totals"), [
      ["Authentication failures", count(t.authentication_failures), "data-metric",
        "totals.authentication_failures"],
      ["Lockouts", count(t.lockouts), "data-metric", "totals.lockouts"],
    ]);
    const days = season.days.map((d) => d.day);
    const series = (key) => season.days.map((d) => d[key]);
    columnChart($("auth-chart"), "authentication failures and lockouts per day", days, [
      { key: "authentication_failures", label: "failures", className: "warn",
        values: series("authentication_failures") },
      { key: "lockouts", label: "lockouts", className: "alarm", values: series("lockouts") },
    ]);
    $("reminder-hint").textContent =
      `Signing reminders sent in the season, and those followed by an e-sign of the same return within ${r.window_days} days.`;
    barChart($("reminder-chart"), "reminder effect", [
      { key: "reminders.sent", label: "Signing reminders", value: r.reminders },
      { key: "reminders.converted", label: "Followed by e-sign", value: r.converted },
    ], r.reminders);
    figures($("reminder-totals"), [
      ["Voucher reminders", count(t.voucher_reminders_sent), "data-metric",
        "totals.voucher_reminders_sent"],
      ["Invitation reminders", count(t.invitation_reminders_sent), "data-metric",
        "totals.invitation_reminders_sent"],
    ]);
    $("invite-hint").textContent =
      `Clients invited in the season, then selecting the link, then connected (within ${i.window_days} days).`;
    barChart($("invite-chart"), "invite to connected funnel", [
      { key: "invites.invited", label: "Invited", value: i.invited },
      { key: "invites.link_selected", label: "Selected the link", value: i.link_selected },
      { key: "invites.connected", label: "Connected", value: i.connected },
    ], i.invited);
    lineChart($("daily-chart"), "activity per day", days, [
      { key: "emails_processed", label: "emails processed", className: "s1",
        values: series("emails_processed") },
      { key: "emails_opened", label: "emails opened", className: "s2", values: series("emails_opened") },
      { key: "returns_accessed", label: "returns accessed", className: "s3",
        values: series("returns_accessed") },
    ]);
    $("season").hidden = false;
  }

  async function loadSeason() {
    const from = $("from").value, to = $("to").value;
    sessionStorage.setItem(SEASON_STORAGE, JSON.stringify({ from, to }));
    const query = new URLSearchParams({ from, to });
    status("Loading...");
    try {
      const firm = await api("/v1/firm");
      $("firm-id").textContent = firm.firm_id;
      $("firm").hidden = false;
      const season = await api(`/v1/season?${query}`);
      clearError();
      renderSeason(season);
      status(`Season ${season.start} to ${season.end}`);
    } catch (error) {
      failed(error);
    }
  }

  // ---- the timeline -----------------------------------------------------------------------

  async function loadTimeline() {
    const returnId = $("return-id").value.trim();
    const table = $("timeline");
    $("timeline-error").hidden = true;
    table.hidden = true;
    if (!returnId) return;
    try {
      const events = [];
      let cursor = null;
      for (let page = 0; page < MAX_TIMELINE_PAGES; page += 1) {
        const query = new URLSearchParams({ limit: "500" });
        if (cursor) query.set("cursor", cursor);
        const body = await api(`/v1/returns/${encodeURIComponent(returnId)}/timeline?${query}`);
        events.push(...body.events);
        cursor = body.next_cursor;
        if (!cursor) break;
      }
      const rows = events.map((event) => {
        const row = document.createElement("tr");
        row.setAttribute("data-event-type", event.event_type);
        for (const text of [utc(event.occurred_at), event.description,
          words(event.recipient_role), words(event.actor), event.firm_user || ""]) {
          const cell = document.createElement("td");
          cell.textContent = text;
          row.appendChild(cell);
        }
        return row;
      });
      table.tBodies[0].replaceChildren(...rows);
      $("timeline-caption").textContent = `Return ${returnId}: ${count(events.length)} events`;
      table.hidden = false;
    } catch (error) {
      if (error.status === 401) return failed(error);
      const message = error.status === 404
        ? `No events of return ${returnId} for this firm.`
        : `Could not load the timeline (${error.status}): ${error.message}`;
      $("timeline-error").textContent = message;
      $("timeline-error").hidden = false;
    }
  }

  // ---- state and errors -------------------------------------------------------------------

  function status(text) {
    $("status").textContent = text;
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  function clearData() {
    $("season").hidden = true;
    for (const id of ["funnel-chart", "rates", "timing-chart", "auth-totals", "auth-chart",
      "reminder-chart", "reminder-totals", "invite-chart", "daily-chart"]) {
      $(id).replaceChildren();
    }
    $("timeline").hidden = true;
    $("timeline").tBodies[0].replaceChildren();
    $("firm").hidden = true;
    $("firm-id").textContent = "";
  }

  function failed(error) {
    status("");
    const code = error.status || "network";
    if (error.status === 401) {
      sessionStorage.removeItem(KEY_STORAGE); // a refused key is not kept
      clearData();
      $("error").textContent = `The API key was not accepted (${code}): ${error.message}.`;
    } else {
      $("season").hidden = true;
      $("error").textContent = `Could not load the season (${code}): ${error.message}.`;
    }
    $("error").hidden = false;
  }

  function defaultSeason() {
    const saved = sessionStorage.getItem(SEASON_STORAGE);
    if (saved) return JSON.parse(saved);
    const year = new Date().getUTCFullYear();
    return { from: `${year}-01-01`, to: `${year}-04-30` };
  }

  function start() {
    const season = defaultSeason();
    $("from").value = season.from;
    $("to").value = season.to;
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      $("api-key").value = "";
      if (!key) return;
      sessionStorage.setItem(KEY_STORAGE, key);
      clearData();
      loadSeason();
    });
    $("forget-key").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORAGE);
      clearData();
      clearError();
      status("Key forgotten.");
    });
    $("season-form").addEventListener("submit", (event) => {
      event.preventDefault();
      loadSeason();
    });
    $("timeline-form").addEventListener("submit", (event) => {
      event.preventDefault();
      loadTimeline();
    });
    if (sessionStorage.getItem(KEY_STORAGE)) loadSeason();
    else status("Enter the firm's API key to see its season.");
  }

  start();
})();
