// The Streamwise dashboard: polls /dashboard/data every 2 s and draws it with uPlot.
// Every value from the server is written with textContent (never as HTML). The admin key stays in
// its input field and goes out only as the X-API-Key header of promote and rollback.
"use strict";

(() => {
  const POLL_MS = 2000;
  const SAMPLES = 300; // throughput samples kept (10 minutes at one per poll)
  const PALETTE = ["#1f77b4", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#393b79", "#637939"];
  const MARKS = {
    concept_drift: { color: "#d62728", dash: [], text: "drift" },
    concept_warning: { color: "#ff7f0e", dash: [4, 4], text: "warning" },
    promoted: { color: "#2ca02c", dash: [], text: "promoted" },
    rolled_back: { color: "#9467bd", dash: [6, 3], text: "rolled back" },
  };

  // What the page shows, for people and for the browser test.
  const state = { polls: 0, lastError: null, metric: null, alertKind: "", data: null, samples: [], rates: [], models: {} };
  const charts = {}; // model name -> {plot, key, marks}
  window.dashboardState = state;
  window.dashboardCharts = charts;

  const $ = (id) => document.getElementById(id);
  let timer = null;

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key === "data") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  function say(id, text, kind) {
    const node = $(id);
    node.textContent = text;
    node.className = kind || "muted";
  }

  const fmt = (value, digits = 4) => (value == null ? "–" : Number(value).toFixed(digits));
  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "–");
  const dateTime = (iso) => (iso ? new Date(iso).toLocaleString() : "–"); // an alert's event time: its date matters
  const sum = (values) => values.reduce((a, b) => a + b, 0);

  // -- polling --------------------------------------------------------------------------------
  async function poll() {
    clearTimeout(timer);
    try {
      const response = await fetch("/dashboard/data", { cache: "no-store" });
      if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
      const data = await response.json();
      state.data = data;
      state.polls += 1;
      state.lastError = null;
      render(data);
      say("poll-status", `updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      state.lastError = String(error);
      say("poll-status", `cannot read /dashboard/data: ${error}`, "error");
    } finally {
      clearTimeout(timer); // one loop, even when an action polled meanwhile
      timer = setTimeout(poll, POLL_MS);
    }
  }

  function render(data) {
    chooseMetric(data);
    recordThroughput(data);
    renderThroughput();
    renderPartitions(data.partitions || []);
    const seen = new Set();
    for (const model of data.models) {
      seen.add(model.name);
      renderModel(model, data.alerts);
    }
    for (const section of document.querySelectorAll("section.model")) {
      if (!seen.has(section.dataset.model)) section.remove();
    }
    renderAlerts(data.alerts);
  }

  function chooseMetric(data) {
    const names = new Set();
    for (const model of data.models) for (const s of model.status) Object.keys(s.metrics).forEach((n) => names.add(n));
    const select = $("metric");
    const options = [...names].sort();
    if (options.join() !== [...select.options].map((o) => o.value).join()) {
      select.replaceChildren(...options.map((n) => el("option", { value: n, text: n })));
    }
    // ROCAUC first: Accuracy says little with rare positives (4 % fraud is 96 % accurate doing nothing).
    const preferred = ["ROCAUC", "Accuracy"].find((n) => names.has(n));
    if (!state.metric || !names.has(state.metric)) state.metric = preferred || options[0] || null;
    if (state.metric) select.value = state.metric;
  }

  // -- throughput: events/s and labels/s from successive status updates ------------------------
  function recordThroughput(data) {
    const model = data.models.find((m) => m.status.length);
    if (!model) return;
    const first = model.status[0].model; // every model sees every event: one candidate counts them
    const docs = model.status.filter((s) => s.model === first);
    const sample = {
      t: Math.max(...docs.map((s) => Date.parse(s.updated_at))),
      events: sum(docs.map((s) => s.events)),
      labeled: sum(docs.map((s) => s.labeled)),
    };
    const previous = state.samples[state.samples.length - 1];
    if (previous && sample.t <= previous.t) return;
    if (previous) {
      const seconds = (sample.t - previous.t) / 1000;
      state.rates.push({
        t: sample.t / 1000,
        events: Math.max(0, (sample.events - previous.events) / seconds),
        labels: Math.max(0, (sample.labeled - previous.labeled) / seconds),
      });
    }
    state.samples.push(sample);
    for (const list of [state.samples, state.rates]) list.splice(0, Math.max(0, list.length - SAMPLES));
  }

  function renderThroughput() {
    const last = state.samples[state.samples.length - 1];
    const rate = state.rates[state.rates.length - 1];
    const kpi = (label, value) => el("div", {}, el("b", { text: value }), el("span", { class: "muted", text: label }));
    $("kpis").replaceChildren(
      kpi("events", last ? last.events.toLocaleString() : "–"),
      kpi("labeled", last ? last.labeled.toLocaleString() : "–"),
      kpi("events/s", rate ? rate.events.toFixed(1) : "–"),
      kpi("labels/s", rate ? rate.labels.toFixed(1) : "–"),
    );
    const data = [state.rates.map((r) => r.t), state.rates.map((r) => r.events), state.rates.map((r) => r.labels)];
    const series = [{}, line("events/s", "#1f77b4"), line("labels/s", "#2ca02c")];
    const options = { x: { time: true }, axes: ["time", "per second"] };
    // The counts above are the last state; rates need two status updates after the page opened.
    chartOrNote("#throughput", $("throughput-chart"), data, series, options,
      "events/s and labels/s appear after the next status updates; the counts above are the last state");
  }

  function renderPartitions(parts) {
    const counts = (kinds) => Object.entries(kinds || {}).sort().map(([kind, n]) => `${kind} ${n}`).join("  ");
    const rows = parts.map((p) => el("tr", { class: Object.keys(p.dead_letters).length ? "failing" : "" },
      el("td", { text: p.part }), el("td", { text: counts(p.dead_letters) || "–" }),
      el("td", { text: counts(p.dropped_features) || "–" }),
      el("td", { text: p.waiting_predictions ?? "–" }), el("td", { text: p.waiting_labels ?? "–" })));
    $("partitions").querySelector("tbody").replaceChildren(
      ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "5", class: "muted", text: "no partition reported yet" }))]));
  }

  // What a model's status says is wrong: events it could not take, nothing learned, nothing scored.
  function troubles(model) {
    const failures = {};
    let events = 0, labeled = 0, scored = 0;
    for (const s of model.status) {
      for (const [reason, n] of Object.entries(s.failures || {})) failures[`${s.model}: ${reason}`] = (failures[`${s.model}: ${reason}`] || 0) + n;
      events += s.events; labeled += s.labeled; scored += s.scored;
    }
    const said = Object.entries(failures).map(([reason, n]) => `${reason} ×${n}`);
    if (labeled === 0 && (events > 0 || said.length)) said.push("learned nothing"); // (a failed prediction counts no event)
    if (model.status.length && scored === 0) said.push(`${state.metric || "metrics"} n/a (nothing scored)`);
    return said;
  }

  function chartOrNote(name, container, data, series, options, note) {
    if (data[0].length > 1) return draw(name, container, data, series, options); // uPlot scales one x oddly
    if (charts[name]) charts[name].plot.destroy();
    delete charts[name];
    container.replaceChildren(el("p", { class: "muted", text: note }));
    return null;
  }

  // -- one model: metric over events, with drift alerts and promotions marked ------------------
  function line(label, stroke) {
    return { label, stroke, width: 1.5, spanGaps: true, points: { show: false } };
  }

  function modelSeries(model, metric) {
    const multi = new Set(model.status.map((s) => s.partition)).size > 1;
    const series = new Map();
    const add = (s, version, x, y) => {
      if (y == null) return;
      const label = `${s.model}${multi ? ` p${s.partition}` : ""} v${version ?? "?"}`;
      if (!series.has(label)) series.set(label, new Map());
      series.get(label).set(x, y);
    };
    for (const s of model.status) {
      for (const p of s.history) add(s, p.generation, p.events, p.metrics[metric]);
      add(s, s.generation, s.events, s.metrics[metric]); // now, between two history points
    }
    const xs = [...new Set([...series.values()].flatMap((points) => [...points.keys()]))].sort((a, b) => a - b);
    const labels = [...series.keys()];
    const data = [xs, ...labels.map((label) => xs.map((x) => series.get(label).get(x) ?? null))];
    return { labels, data };
  }

  function modelMarks(model, alerts) {
    const names = new Set([model.name, ...model.status.map((s) => s.model), ...model.versions.map((v) => v.candidate)]);
    const marks = alerts
      .filter((a) => a.model && names.has(a.model) && MARKS[a.kind])
      .map((a) => ({ x: a.events_seen, kind: a.kind, text: a.action || MARKS[a.kind].text }));
    for (const change of model.changes) {
      if (change.events_seen == null || !MARKS[change.event]) continue;
      marks.push({ x: change.events_seen, kind: change.event, text: `${MARKS[change.event].text} v${change.version}` });
    }
    return marks;
  }

  function marksPlugin(name) {
    return {
      hooks: {
        draw: [
          (u) => {
            const { left, top, width, height } = u.bbox;
            const ctx = u.ctx;
            (charts[name].marks || []).forEach((mark, i) => {
              const x = Math.round(u.valToPos(mark.x, "x", true));
              if (x < left || x > left + width) return;
              const style = MARKS[mark.kind];
              ctx.save();
              ctx.strokeStyle = ctx.fillStyle = style.color;
              ctx.lineWidth = Math.max(1, devicePixelRatio);
              ctx.setLineDash(style.dash.map((d) => d * devicePixelRatio));
              ctx.beginPath();
              ctx.moveTo(x, top);
              ctx.lineTo(x, top + height);
              ctx.stroke();
              ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
              ctx.fillText(mark.text, x + 3 * devicePixelRatio, top + (12 + (i % 4) * 12) * devicePixelRatio);
              ctx.restore();
            });
          },
        ],
      },
    };
  }

  function draw(name, container, data, series, { x, axes, marks = [] }) {
    const key = `${series.map((s) => s.label).join("|")}#${axes.join("|")}`;
    let chart = charts[name];
    if (chart && chart.key === key) {
      chart.marks = marks;
      chart.plot.setData(data);
      return chart;
    }
    if (chart) chart.plot.destroy();
    container.replaceChildren();
    chart = charts[name] = { key, marks, plot: null };
    const span = (u, min, max) => {
      const xs = [min, max, ...charts[name].marks.map((m) => m.x)].filter((v) => v != null && isFinite(v));
      const lo = Math.min(...xs);
      const hi = Math.max(...xs);
      return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
    };
    const lastMinute = (u, min, max) => (max - min < 60 ? [max - 60, max] : [min, max]); // one sample: not years
    const options = {
      width: Math.max(480, container.clientWidth - 12),
      height: 260,
      scales: { x: x.time ? { time: true, range: lastMinute } : { time: false, range: span } },
      axes: [{ label: axes[0] }, { label: axes[1] }],
      series,
      plugins: [marksPlugin(name)],
    };
    chart.plot = new uPlot(options, data, container);
    return chart;
  }

  function section(name) {
    let node = document.querySelector(`section.model[data-model="${CSS.escape(name)}"]`);
    if (node) return node;
    node = el(
      "section",
      { class: "model", data: { model: name } },
      el("h2", {}, el("span", { text: name }), " ", el("span", { class: "champion", data: { model: name } }), " ",
        el("span", { class: "muted summary" }), " ", el("span", { class: "unpin" })),
      el("p", { class: "troubles" }),
      el("div", { class: "legend-marks" },
        ...Object.entries(MARKS).map(([kind, m]) => el("span", { class: `mark-${kind}`, text: `┃ ${m.text}` }))),
      el("div", { class: "chart" }),
      el("table", { class: "versions" }),
      el("table", { class: "changes" }),
    );
    $("models").append(node);
    return node;
  }

  function renderModel(model, alerts) {
    const node = section(model.name);
    const champion = model.champion;
    node.querySelector(".champion").textContent = champion ? `champion v${champion.version}` : "no champion yet";
    const summary = [
      model.serving != null ? `serving v${model.serving}` : "not served",
      champion ? `candidate ${champion.candidate}` : null,
      champion && champion.pinned ? `pinned by ${champion.by}` : null,
    ];
    node.querySelector(".summary").textContent = summary.filter(Boolean).join(" · ");
    const trouble = troubles(model);
    node.querySelector(".troubles").textContent = trouble.join(" · ");
    node.classList.toggle("failing", trouble.length > 0 && trouble.some((t) => !t.includes("n/a")));
    const unpin = champion && champion.pinned
      ? [actionButton(model.name, "promote", null, "unpin (serve the newest)")]
      : [];
    node.querySelector(".unpin").replaceChildren(...unpin);

    const metric = state.metric;
    const { labels, data } = modelSeries(model, metric);
    const marks = modelMarks(model, alerts);
    const series = [{ label: "events" }, ...labels.map((label, i) => line(label, PALETTE[i % PALETTE.length]))];
    const options = { x: { time: false }, axes: ["events", metric], marks };
    chartOrNote(model.name, node.querySelector(".chart"), data, series, options, "waiting for the worker's prequential history");
    state.models[model.name] = {
      points: data.slice(1).reduce((n, ys) => n + ys.filter((y) => y != null).length, 0),
      series: labels.length,
      marks: marks.length,
      champion: champion ? champion.version : null,
      serving: model.serving,
      versions: model.versions.map((v) => v.version),
    };
    renderVersions(node.querySelector("table.versions"), model, metric);
    renderChanges(node.querySelector("table.changes"), model);
  }

  function actionButton(name, action, version, text) {
    return el("button", {
      type: "button",
      text,
      data: { model: name, action, version: version == null ? "" : String(version) },
      onclick: () => act(name, action, version),
    });
  }

  function renderVersions(table, model, metric) {
    const champion = model.champion ? model.champion.version : null;
    const head = ["version", "candidate", "generation", "created", "events", "labeled", metric || "metric", "reason", ""];
    const rows = [...model.versions].reverse().map((v) => {
      const actions = [];
      if (v.version !== champion) actions.push(actionButton(model.name, "promote", v.version, "promote"));
      if (champion != null && v.version < champion) actions.push(actionButton(model.name, "rollback", v.version, "roll back"));
      const cells = [`v${v.version}${v.version === champion ? " ★" : ""}`, v.candidate, v.generation ?? "–",
        time(v.created_at), v.events_seen ?? "–", v.labeled ?? "–", fmt(v.metrics[metric]), v.reason ?? ""];
      return el("tr", { class: v.version === champion ? "champion" : "" },
        ...cells.map((c) => el("td", { text: String(c) })), el("td", {}, ...actions));
    });
    table.replaceChildren(
      el("caption", { class: "muted", text: `${model.versions.length} kept versions` }),
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { text: h })))),
      el("tbody", {}, ...rows),
    );
  }

  function renderChanges(table, model) {
    const rows = [...model.changes].reverse().slice(0, 10).map((c) =>
      el("tr", {}, ...[time(c.at), c.event, `v${c.version}`, c.by, c.reason, c.events_seen ?? "–"]
        .map((v) => el("td", { text: String(v) }))));
    table.replaceChildren(
      el("caption", { class: "muted", text: rows.length ? "promotions and rollbacks (newest first)" : "no promotions or rollbacks yet" }),
      el("thead", {}, el("tr", {}, ...["time", "event", "version", "by", "reason", "at events"].map((h) => el("th", { text: h })))),
      el("tbody", {}, ...rows),
    );
  }

  function renderAlerts(alerts) {
    const kinds = [...new Set(alerts.map((a) => a.kind))].sort();
    const select = $("alert-kind");
    if (["", ...kinds].join() !== [...select.options].map((o) => o.value).join()) {
      select.replaceChildren(el("option", { value: "", text: "every kind" }), ...kinds.map((k) => el("option", { value: k, text: k })));
      select.value = kinds.includes(state.alertKind) ? state.alertKind : "";
    }
    const shown = alerts.filter((a) => !state.alertKind || a.kind === state.alertKind);
    // Newest first by event time (alerts of several partitions arrive interleaved).
    const newest = [...shown].sort((a, b) => (Date.parse(b.ts) || 0) - (Date.parse(a.ts) || 0)).slice(0, 50);
    const rows = newest.map((a) => {
      const details = Object.entries(a.details || {})
        .filter(([, v]) => typeof v !== "object")
        .map(([k, v]) => `${k}=${typeof v === "number" ? +v.toFixed(4) : v}`)
        .join(" ");
      const cells = [dateTime(a.ts), a.model || a.feature || "–", a.kind, a.detector, a.events_seen, a.action || "–", details];
      return el("tr", {}, ...cells.map((c, i) => el("td", { text: String(c), class: i === 6 ? "details" : "" })));
    });
    document.querySelector("#alerts tbody").replaceChildren(...rows);
  }

  // -- promote and rollback (admin routes, X-API-Key from the field) --------------------------
  async function act(name, action, version) {
    const key = $("api-key").value.trim();
    if (!key) {
      say("action-status", "Type the admin key (X-API-Key) first.", "error");
      return;
    }
    const verb = action === "rollback" ? "roll back" : "promote";
    say("action-status", `${name}: ${verb} to ${version == null ? "the newest" : `v${version}`}…`);
    try {
      const response = await fetch(`/models/${encodeURIComponent(name)}/${action}`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-API-Key": key },
        body: JSON.stringify({ version, reason: `${verb} from the dashboard` }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.ok) {
        say("action-status", `${name}: champion is now v${body.champion.version}.`, "ok");
      } else {
        const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
        say("action-status", `${name}: ${verb} refused (${response.status}): ${detail}`, "error");
      }
    } catch (error) {
      say("action-status", `${name}: ${verb} failed: ${error}`, "error");
    }
    poll();
  }

  $("alert-kind").addEventListener("change", (event) => {
    state.alertKind = event.target.value;
    if (state.data) renderAlerts(state.data.alerts);
  });
  $("metric").addEventListener("change", (event) => {
    state.metric = event.target.value;
    if (state.data) render(state.data);
  });
  window.addEventListener("resize", () => {
    for (const chart of Object.values(charts)) {
      const width = Math.max(480, chart.plot.root.parentElement.clientWidth - 12);
      chart.plot.setSize({ width, height: 260 });
    }
  });
  poll();
})();
