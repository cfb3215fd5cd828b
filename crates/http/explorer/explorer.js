// kg explorer: search the graph, open an entity, draw its neighbourhood.
//
// Everything goes through kg's public API on this origin. Tokens live in
// this module's memory only: never in localStorage, sessionStorage or a
// cookie the page can read. What the page shows is kept in the URL's
// fragment, so a view can be shared by link (the recipient signs in first).

const $ = (id) => document.getElementById(id);
const PAGE = 25;
const DEFAULT_BUDGET = 200;
const PALETTE = [
  "#2f5d8a", "#c2692a", "#3c8d5a", "#8e4fa3", "#b8860b",
  "#2a8c9c", "#c0475a", "#6b7b2a", "#5a5fc9", "#7a5a44",
];

// ---------------------------------------------------------------- session

const cookieAuth = document.querySelector('meta[name="kg-cookie-auth"]')?.content === "true";

/** The caller's credentials, in memory only. */
const session = {
  token: null, // bearer access token
  refresh: null, // its refresh token
  expiresAt: 0, // ms since the epoch
  apiKey: null,
  cookie: false, // a cookie session: the browser holds the tokens
  csrf: null,
  me: null, // the caller's account: id, email, role
  gen: 0, // bumped at every sign-out: answers for an earlier session are dropped
};

function signedIn() {
  return Boolean(session.token || session.apiKey || session.cookie);
}

function adoptTokens(body) {
  if (body.access_token) {
    session.token = body.access_token;
    session.refresh = body.refresh_token;
  } else {
    session.cookie = true;
    session.csrf = body.csrf_token ?? session.csrf;
  }
  session.expiresAt = Date.now() + (body.expires_in ?? 0) * 1000;
}

function forget() {
  session.gen++;
  session.token = session.refresh = session.apiKey = session.csrf = session.me = null;
  session.cookie = false;
  session.expiresAt = 0;
}

/** One renewal at a time: concurrent callers wait for the same one. */
let renewing = null;
function renew() {
  if (!session.refresh && !session.cookie) return Promise.resolve(false);
  const gen = session.gen;
  renewing ??= (async () => {
    try {
      const headers = { "Content-Type": "application/json", Accept: "application/json" };
      if (session.cookie) headers["X-CSRF-Token"] = session.csrf;
      const res = await fetch("/v1/auth/refresh", {
        method: "POST",
        headers,
        credentials: "same-origin",
        body: JSON.stringify(session.cookie ? {} : { refresh_token: session.refresh }),
      });
      if (!res.ok) return false;
      const body = await res.json();
      if (gen !== session.gen) return false; // signed out meanwhile
      adoptTokens(body);
      return true;
    } catch {
      return false;
    } finally {
      renewing = null;
    }
  })();
  return renewing;
}

/** An answer that arrived for a session that has ended: dropped quietly. */
class Superseded extends Error {}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? {};
  }
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/**
 * Sends one request with the caller's credentials, renewing an access
 * token that is about to expire (or was refused as expired) once.
 * Answers `{status, body, headers}`; a problem becomes an `ApiError`.
 */
async function api(method, path, { body, headers = {}, accept = [] } = {}) {
  const gen = session.gen;
  const send = () => {
    const h = { Accept: "application/json", ...headers };
    if (body !== undefined && !h["Content-Type"]) h["Content-Type"] = "application/json";
    if (session.apiKey) h["X-API-Key"] = session.apiKey;
    else if (session.token) h.Authorization = `Bearer ${session.token}`;
    else if (session.cookie && method !== "GET") h["X-CSRF-Token"] = session.csrf;
    return fetch(path, {
      method,
      headers: h,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  };
  if ((session.token || session.cookie) && session.expiresAt && Date.now() > session.expiresAt - 30_000) {
    await renew();
  }
  let res = await send();
  if (res.status === 401 && (session.refresh || session.cookie) && (await renew())) {
    res = await send();
  }
  const text = await res.text();
  if (gen !== session.gen) throw new Superseded();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { detail: text.slice(0, 200) };
    }
  }
  if (res.ok || accept.includes(res.status)) {
    return { status: res.status, body: parsed, headers: res.headers };
  }
  if (res.status === 401 && !path.startsWith("/v1/auth/")) {
    forget();
    say("Your session has ended: sign in again.");
    show();
  }
  throw new ApiError(res.status, parsed);
}

// ------------------------------------------------------------- messages

function say(text) {
  $("status").textContent = text;
}

function fail(error) {
  const box = $("alert");
  if (!(error instanceof ApiError)) {
    box.textContent = `Something went wrong: ${error?.message ?? error}`;
  } else {
    const p = error.problem;
    const fields = (p.errors ?? []).map((e) => `${e.field ?? e.pointer ?? ""}: ${e.message ?? e.detail ?? ""}`);
    box.textContent = [p.detail || p.title || error.message, ...fields].join(" — ")
      + (p.request_id ? ` (request ${p.request_id})` : "");
  }
  box.hidden = false;
}

function clearAlert() {
  $("alert").hidden = true;
  $("alert").textContent = "";
}

/** Runs an action, reporting its failure instead of throwing. */
async function attempt(action) {
  clearAlert();
  try {
    return await action();
  } catch (e) {
    if (!(e instanceof Superseded)) fail(e);
    return undefined;
  }
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "on") for (const [ev, f] of Object.entries(v)) node.addEventListener(ev, f);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function colour(type) {
  let h = 0;
  for (const ch of type) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

// ------------------------------------------------------------------ view

/** What the page shows, read from and written to the URL's fragment. */
const VIEW_KEYS = ["name", "q", "type", "source_type", "min_confidence", "cursor",
  "entity", "depth", "ntype", "rtype", "nmin", "max_nodes", "open"];

function readView() {
  const p = new URLSearchParams(location.hash.slice(1));
  const v = {};
  for (const k of VIEW_KEYS) if (p.get(k)) v[k] = p.get(k);
  return v;
}

function writeView(changes, { replace = false } = {}) {
  const v = { ...readView(), ...changes };
  const p = new URLSearchParams();
  for (const k of VIEW_KEYS) if (v[k] !== undefined && v[k] !== null && v[k] !== "") p.set(k, v[k]);
  const hash = `#${p.toString()}`;
  if (hash === location.hash) return render();
  if (replace) {
    history.replaceState(null, "", hash);
    return render();
  }
  location.hash = hash; // hashchange renders
  return undefined;
}

// What is on screen, to redraw only what changed.
const shown = { search: null, graph: null, open: null };

/**
 * Brings the screen in line with the URL. One render runs at a time; a
 * change of URL during one makes it run again with the URL as it is then,
 * so an older view never lands after a newer one.
 */
let rendering = null;
let renderAgain = false;
function render() {
  if (rendering) {
    renderAgain = true;
    return rendering;
  }
  rendering = (async () => {
    do {
      renderAgain = false;
      await renderOnce();
    } while (renderAgain);
  })().finally(() => {
    rendering = null;
  });
  return rendering;
}

/** Runs one part of a render; a part that failed is tried again next time. */
async function part(key, value, load) {
  if (shown[key] === value) return;
  shown[key] = value;
  const done = await attempt(async () => {
    await load();
    return true;
  });
  if (!done && shown[key] === value) shown[key] = null;
}

async function renderOnce() {
  if (!signedIn() || !session.me) return;
  const v = readView();
  fillForms(v);
  await part("search", JSON.stringify([v.name, v.q, v.type, v.source_type, v.min_confidence, v.cursor]),
    () => loadResults(v));
  if (renderAgain) return;
  await part("graph", JSON.stringify([v.entity, v.depth, v.ntype, v.rtype, v.nmin, v.max_nodes]),
    () => drawGraph(v));
  if (renderAgain) return;
  await part("open", v.open ?? v.entity ?? null, async () => {
    try {
      await openEntity(v.open ?? v.entity ?? null);
    } catch (e) {
      $("entity-title").textContent = "Not loaded";
      $("entity-relationships").replaceChildren();
      throw e;
    }
  });
}

function fillForms(v) {
  const sf = $("search-form");
  for (const k of ["name", "q", "type", "source_type", "min_confidence"]) sf.elements[k].value = v[k] ?? "";
  const gf = $("graph-form");
  gf.elements.depth.value = v.depth ?? "1";
  for (const k of ["ntype", "rtype", "nmin", "max_nodes"]) gf.elements[k].value = v[k] ?? "";
}

// --------------------------------------------------------------- sign in

async function signIn(form) {
  const email = form.elements.email.value.trim();
  const password = form.elements.password.value;
  const apiKey = form.elements.api_key.value.trim();
  form.elements.password.value = "";
  form.elements.api_key.value = "";
  if (apiKey) {
    // A key may not read the account routes: check it on a read instead.
    session.apiKey = apiKey;
    try {
      await api("GET", "/v1/entities?limit=1");
    } catch (e) {
      forget();
      throw e;
    }
    session.me = { email: "an API key", role: "key" };
    say("Signed in with an API key; what it may change is the key's role.");
    show();
    return;
  } else {
    if (!email || !password) throw new Error("Give an email and a password, or an API key.");
    const { body } = await api("POST", "/v1/auth/token", {
      body: cookieAuth ? { email, password, cookie: true } : { email, password },
    });
    adoptTokens(body);
  }
  try {
    session.me = (await api("GET", "/v1/auth/me")).body;
  } catch (e) {
    forget();
    throw e;
  }
  say(`Signed in as ${session.me.email}.`);
  show();
}

async function signOut() {
  if (session.token || session.cookie) {
    // A session that has already ended (401) is as good as ended; any
    // other failure keeps it, and says so, rather than pretend.
    await api("POST", "/v1/auth/logout", { body: {}, accept: [401] });
  }
  forget();
  emails.clear();
  resultPages.length = 0;
  deletedCursor = null;
  $("deleted-list").replaceChildren();
  $("deleted").open = false;
  resetShown();
  say("Signed out.");
  show();
}

function resetShown() {
  shown.search = shown.graph = shown.open = null;
  if (cy) cy.elements().remove();
}

function show() {
  const inside = signedIn() && session.me;
  $("sign-in").hidden = Boolean(inside);
  $("workspace").hidden = !inside;
  $("who").hidden = !inside;
  if (!inside) {
    resetShown();
    $("sign-in-form").elements.email.focus();
    return;
  }
  $("who-name").textContent = session.me.role === "key" ? "an API key" : `${session.me.email} (${session.me.role})`;
  $("deleted").hidden = session.me.role !== "admin";
  render();
}

// A key's role is not readable by the key itself: the API decides.
const canEdit = () => ["editor", "admin", "key"].includes(session.me?.role);

// ---------------------------------------------------------------- search

const resultPages = []; // cursors of the pages before this one

async function loadResults(v) {
  const { body } = await api("GET", `/v1/entities${query({
    limit: PAGE, name: v.name, q: v.q, type: v.type, source_type: v.source_type,
    min_confidence: v.min_confidence, cursor: v.cursor,
  })}`);
  const list = $("results");
  list.replaceChildren(...body.items.map((e) => el("li", {},
    el("button", {
      type: "button",
      dataset: { id: e.id },
      on: { click: () => writeView({ entity: e.id, open: undefined }) },
    }, e.name, el("span", { className: "meta" }, `${e.type}${e.confidence === null ? "" : ` · ${e.confidence}`}`)))));
  if (!body.items.length) list.append(el("li", { className: "hint" }, "Nothing matches."));
  $("results-next").disabled = !body.next_cursor;
  $("results-next").dataset.cursor = body.next_cursor ?? "";
  $("results-prev").disabled = !v.cursor;
  say(`${body.items.length} result${body.items.length === 1 ? "" : "s"}${body.next_cursor ? ", more on the next page" : ""}.`);
}

function search(form) {
  const f = form.elements;
  resultPages.length = 0;
  writeView({
    name: f.name.value.trim(), q: f.q.value.trim(), type: f.type.value.trim(),
    source_type: f.source_type.value.trim(), min_confidence: f.min_confidence.value, cursor: undefined,
  });
}

let deletedCursor = null;
async function loadDeleted(more) {
  const { body } = await api("GET", `/v1/audit${query({
    target_type: "entity", action: "delete", limit: PAGE, cursor: more ? deletedCursor : undefined,
  })}`);
  deletedCursor = body.next_cursor;
  const list = $("deleted-list");
  if (!more) list.replaceChildren();
  list.append(...body.items.map((a) => el("li", {}, el("button", {
    type: "button",
    on: { click: () => writeView({ open: a.target_id }) },
  }, a.target_id, el("span", { className: "meta" }, `deleted ${when(a.at)}`)))));
  $("deleted-more").hidden = !deletedCursor;
}

// ----------------------------------------------------------------- graph

let cy = null;
const graphData = { nodes: new Map(), edges: new Map(), root: null };

function graphStyle() {
  return [
    { selector: "node", style: {
      "background-color": "data(colour)", label: "data(label)", color: "#1d232b",
      "font-size": 11, "text-valign": "bottom", "text-margin-y": 3, "min-zoomed-font-size": 7,
      "text-wrap": "ellipsis", "text-max-width": 120, width: 22, height: 22,
      "border-width": 2, "border-color": "#ffffff",
    } },
    { selector: "node.root", style: { width: 32, height: 32, "border-color": "#1d232b", "border-width": 3 } },
    { selector: "node:selected", style: { "border-color": "#f0a020", "border-width": 4 } },
    { selector: "edge", style: {
      width: "data(width)", "line-color": "#9aa6b2", "target-arrow-color": "#9aa6b2",
      "target-arrow-shape": "triangle", "curve-style": "bezier", label: "data(label)",
      "font-size": 9, color: "#5b6673", "text-rotation": "autorotate", "min-zoomed-font-size": 8,
      "text-background-color": "#fbfcfd", "text-background-opacity": 1, "text-background-padding": 1,
    } },
  ];
}

function ensureCy() {
  if (cy) return cy;
  if (typeof window.cytoscape !== "function") throw new Error("The graph library did not load.");
  cy = window.cytoscape({
    container: $("graph"),
    style: graphStyle(),
    wheelSensitivity: 0.3,
    minZoom: 0.05,
    maxZoom: 4,
  });
  cy.on("tap", "node", (ev) => writeView({ open: ev.target.id() }));
  cy.on("dbltap", "node", (ev) => attempt(() => expand(ev.target.id())));
  // The drawing, for the browser's console and the browser test.
  window.kgExplorer = { cy };
  return cy;
}

function neighboursPath(id, v, depth) {
  return `/v1/entities/${encodeURIComponent(id)}/neighbors${query({
    depth, type: v.ntype, relationship_type: v.rtype, min_confidence: v.nmin,
    max_nodes: v.max_nodes || DEFAULT_BUDGET,
  })}`;
}

function nodeElement(e) {
  return { group: "nodes", data: { id: e.id, label: e.name, type: e.type, colour: colour(e.type) } };
}

function edgeElement(r) {
  const c = typeof r.confidence === "number" ? r.confidence : 0;
  return {
    group: "edges",
    data: { id: r.id, source: r.source_id, target: r.target_id, label: r.type, width: 1 + 5 * c },
  };
}

/** Adds what is not drawn yet; answers how many nodes were new. */
function merge(answer) {
  const fresh = [];
  for (const n of answer.nodes) {
    if (!graphData.nodes.has(n.id)) fresh.push(nodeElement(n));
    graphData.nodes.set(n.id, n);
  }
  const edges = [];
  for (const r of answer.edges) {
    if (!graphData.edges.has(r.id) && graphData.nodes.has(r.source_id) && graphData.nodes.has(r.target_id)) {
      edges.push(edgeElement(r));
    }
    graphData.edges.set(r.id, r);
  }
  cy.add([...fresh, ...edges]);
  return fresh.length;
}

/** Pairs of nodes drawn on top of each other, for checking the layout. */
function overlaps() {
  const points = cy.nodes().map((node) => node.position());
  let count = 0;
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      if (Math.hypot(points[i].x - points[j].x, points[i].y - points[j].y) < 22) count++;
    }
  }
  return count;
}

/** The ring of a level's `i`th node: rings of 41, 48, 55… nodes. */
function ringOf(i) {
  let ring = 0;
  for (let left = i, size = 41; left >= size; left -= size, size += 7) ring++;
  return ring;
}

/** Hops from the drawn entity to each node, over the drawn edges. */
function distances() {
  const hops = new Map();
  const root = graphData.root && cy.getElementById(graphData.root);
  if (!root || root.empty()) return hops;
  hops.set(root.id(), 0);
  let level = root;
  for (let d = 1; level.nonempty(); d++) {
    const next = level.neighborhood("node").filter((node) => !hops.has(node.id()));
    next.forEach((node) => hops.set(node.id(), d));
    level = next;
  }
  return hops;
}

function layout(animate) {
  const n = cy.nodes().length;
  const started = performance.now();
  cy.one("layoutstop", () => {
    window.kgExplorerLastLayout = { nodes: n, overlaps: overlaps(), ms: Math.round(performance.now() - started) };
  });
  if (n > 60) {
    // Many nodes: rings by hops from the drawn entity; a crowded level
    // takes several rings, each outer one holding 7 more (so that no two
    // rings line their nodes up along the same spokes), none on another.
    const hops = distances();
    const far = Math.max(0, ...hops.values()) + 1;
    const seen = new Map();
    const ring = new Map();
    cy.nodes().forEach((node) => {
      const h = hops.get(node.id()) ?? far;
      const i = seen.get(h) ?? 0;
      seen.set(h, i + 1);
      ring.set(node.id(), (far - h) * 1000 + (999 - ringOf(i)));
    });
    cy.layout({
      name: "concentric",
      animate: false,
      fit: true,
      padding: 30,
      avoidOverlap: true,
      minNodeSpacing: 12,
      concentric: (node) => ring.get(node.id()),
      levelWidth: () => 1,
    }).run();
    return;
  }
  cy.layout({
    name: n > 1 ? "cose" : "grid",
    animate,
    randomize: false,
    fit: true,
    padding: 30,
    nodeRepulsion: () => 9000,
    idealEdgeLength: () => 90,
  }).run();
}

let lastCut = [];
function summarise() {
  const s = $("graph-summary");
  s.replaceChildren(`${cy.nodes().length} nodes, ${cy.edges().length} edges`);
  if (lastCut.length) {
    s.append(" · ", el("span", { className: "cut" }, `truncated by ${lastCut.join(", ")}`));
  }
  const types = [...new Set(cy.nodes().map((n) => n.data("type")))].sort();
  $("legend").replaceChildren(...types.map((t) => {
    const swatch = el("span", { className: "swatch" });
    swatch.style.backgroundColor = colour(t);
    return el("li", {}, swatch, t);
  }));
  const list = $("node-list");
  list.replaceChildren(...cy.nodes().map((n) => el("li", {},
    el("span", {}, `${n.data("label")} (${n.data("type")})`),
    el("button", { type: "button", on: { click: () => writeView({ open: n.id() }) } }, "Open"),
    el("button", { type: "button", on: { click: () => attempt(() => expand(n.id())) } }, "Expand"))));
}

let graphTicket = 0;

async function drawGraph(v) {
  const ticket = ++graphTicket;
  ensureCy();
  cy.elements().remove();
  graphData.nodes.clear();
  graphData.edges.clear();
  graphData.root = v.entity ?? null;
  lastCut = [];
  if (!v.entity) {
    summarise();
    return;
  }
  const started = performance.now();
  const { body } = await api("GET", neighboursPath(v.entity, v, v.depth ?? 1));
  if (ticket !== graphTicket) return;
  merge(body);
  cy.getElementById(v.entity).addClass("root");
  lastCut = body.truncated ? body.truncated_by : [];
  layout(false);
  summarise();
  const ms = Math.round(performance.now() - started);
  window.kgExplorerLastDraw = { nodes: body.nodes.length, edges: body.edges.length, ms };
  say(`Drew ${body.nodes.length} nodes and ${body.edges.length} edges in ${ms} ms.`);
}

async function expand(id) {
  ensureCy();
  const v = readView();
  const ticket = graphTicket;
  const { body } = await api("GET", neighboursPath(id, v, 1));
  if (ticket !== graphTicket) return; // the drawing was replaced meanwhile
  const added = merge(body);
  if (body.truncated) lastCut = [...new Set([...lastCut, ...body.truncated_by])];
  layout(true);
  summarise();
  const name = graphData.nodes.get(id)?.name ?? id;
  say(added ? `Expanded ${name}: ${added} new node${added === 1 ? "" : "s"}.` : `${name} has no neighbours that are not drawn yet.`);
}

// ---------------------------------------------------------------- entity

const opened = { entity: null, deleted: false, historyCursor: null };
// A later open supersedes an answer still on its way for an earlier one.
let openTicket = 0;

async function openEntity(id) {
  const ticket = ++openTicket;
  const stale = () => ticket !== openTicket;
  $("edit-form").hidden = true;
  $("conflict").hidden = true;
  // Nothing of the entity shown before acts on the one being opened.
  opened.entity = null;
  opened.id = id;
  for (const b of ["edit", "restore", "centre", "expand", "history-more"]) $(b).hidden = true;
  $("entity-relationships").replaceChildren(el("p", { className: "hint" }, "Loading…"));
  $("entity-history").replaceChildren();
  $("entity-fields").replaceChildren();
  $("entity-metadata").textContent = "";
  $("entity-title").textContent = "Loading…";
  if (!id) {
    $("entity-body").hidden = true;
    $("entity-empty").hidden = false;
    $("entity-title").textContent = "Entity";
    return;
  }
  const got = await api("GET", `/v1/entities/${encodeURIComponent(id)}`, { accept: [404] });
  if (stale()) return;
  const deleted = got.status === 404;
  $("entity-empty").hidden = true;
  $("entity-body").hidden = false;
  $("entity-deleted").hidden = !deleted;
  await loadHistory(id, false, stale);
  if (stale()) return;
  opened.deleted = deleted;
  if (deleted) {
    $("entity-title").textContent = "Deleted entity";
    $("entity-fields").replaceChildren(...fields({ id }));
    $("entity-metadata").textContent = "";
    $("entity-relationships").replaceChildren();
  } else {
    await people([got.body.created_by, got.body.updated_by]);
    if (stale()) return;
    showEntity(got.body);
    await loadRelationships(id, stale);
    if (stale()) return;
    opened.entity = got.body;
  }
  $("restore").hidden = !(deleted && session.me.role === "admin");
  $("edit").hidden = deleted || !canEdit();
  $("centre").hidden = $("expand").hidden = deleted;
  for (const b of $("results").querySelectorAll("button")) b.setAttribute("aria-current", String(b.dataset.id === id));
  if (cy) {
    cy.nodes().unselect();
    cy.getElementById(id).select();
  }
  $("entity-title").focus({ preventScroll: true });
}

function fields(map) {
  return Object.entries(map).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v ?? "—")]);
}

function showEntity(e) {
  const who = (id) => emails.get(id) ?? id;
  $("entity-title").textContent = e.name;
  $("entity-fields").replaceChildren(...fields({
    type: e.type,
    id: e.id,
    "external id": e.external_id,
    confidence: e.confidence === null ? null : String(e.confidence),
    source: e.source,
    "source type": e.source_type,
    created: `${when(e.created_at)} by ${who(e.created_by)}`,
    updated: `${when(e.updated_at)} by ${who(e.updated_by)}`,
    version: String(e.version),
  }));
  $("entity-metadata").textContent = JSON.stringify(e.metadata, null, 2);
}

/**
 * The names of an entity's relationship ends: from the drawing, else from
 * one call for its direct neighbours; an end neither knows shows its id.
 */
async function names(id, ends) {
  const known = new Map();
  for (const end of ends) {
    const n = graphData.nodes.get(end);
    if (n) known.set(end, n.name);
  }
  if (ends.some((end) => !known.has(end))) {
    try {
      const { body } = await api("GET", `/v1/entities/${encodeURIComponent(id)}/neighbors${query({ depth: 1, max_nodes: 250 })}`);
      for (const n of body.nodes) known.set(n.id, n.name);
    } catch (e) {
      if (e instanceof Superseded) throw e;
      // The ids stand in for the names.
    }
  }
  return known;
}

async function loadRelationships(id, stale) {
  const box = $("entity-relationships");
  const [out, inc] = await Promise.all(["out", "in"].map((direction) =>
    api("GET", `/v1/entities/${encodeURIComponent(id)}/relationships${query({ direction, limit: 100 })}`)));
  const all = [...out.body.items, ...inc.body.items];
  const ends = await names(id, all.map((r) => (r.source_id === id ? r.target_id : r.source_id)));
  if (stale()) return;
  const groups = [];
  for (const [label, page, arrow, far] of [
    ["Outgoing", out.body, "→", "target_id"], ["Incoming", inc.body, "←", "source_id"],
  ]) {
    const byType = new Map();
    for (const r of page.items) {
      if (!byType.has(r.type)) byType.set(r.type, []);
      byType.get(r.type).push(r);
    }
    for (const [type, rels] of [...byType].sort(([a], [b]) => a.localeCompare(b))) {
      groups.push(el("div", { className: "rel-group" },
        el("h4", {}, `${label} ${arrow} ${type} (${rels.length})`),
        el("ul", { className: "rel-list" }, rels.map((r) => el("li", {},
          el("button", { type: "button", on: { click: () => writeView({ open: r[far] }) } },
            ends.get(r[far]) ?? r[far]),
          el("span", { className: "conf" }, r.confidence === null ? "" : ` ${r.confidence}`))))));
    }
    if (page.next_cursor) groups.push(el("p", { className: "hint" }, `${label}: the first 100 are listed.`));
  }
  box.replaceChildren(...(groups.length ? groups : [el("p", { className: "hint" }, "No relationships.")]));
}

async function loadHistory(id, more, stale = () => false) {
  const { body } = await api("GET", `/v1/entities/${encodeURIComponent(id)}/history${query({
    limit: PAGE, cursor: more ? opened.historyCursor : undefined,
  })}`);
  if (stale()) return;
  opened.historyCursor = body.next_cursor;
  const list = $("entity-history");
  if (!more) list.replaceChildren();
  const who = await people(body.items.map((a) => a.actor_id));
  if (stale()) return;
  list.append(...body.items.map((a) => el("li", {},
    el("div", { className: "when" }, `${when(a.at)} · ${who.get(a.actor_id) ?? a.actor_id}`),
    el("div", { className: "what" }, a.action),
    changeList(a.changes))));
  if (!more && !body.items.length) list.append(el("li", {}, "No recorded changes."));
  $("history-more").hidden = !opened.historyCursor;
}

const short = (v) => {
  const text = JSON.stringify(v);
  return text === undefined ? "—" : text.length > 120 ? `${text.slice(0, 117)}…` : text;
};

/** An audit row's changes, `{field: {before, after}}`, one line a field. */
function changeList(changes) {
  const entries = Object.entries(changes ?? {});
  if (!entries.length) return null;
  return el("pre", {}, entries.map(([field, c]) => {
    if (c === null || typeof c !== "object" || !("before" in c || "after" in c)) return `${field}: ${short(c)}`;
    if (!("before" in c)) return `${field}: ${short(c.after)}`;
    return `${field}: ${short(c.before)} → ${short(c.after)}`;
  }).join("\n"));
}

/** Users' emails by id, for admins (who may read accounts); ids otherwise. */
const emails = new Map();
async function people(ids) {
  if (session.me?.role === "admin") {
    const missing = [...new Set(ids)].filter((id) => !emails.has(id)).slice(0, 10);
    const answers = await Promise.all(missing.map((id) =>
      api("GET", `/v1/users/${encodeURIComponent(id)}`, { accept: [404] }).catch((e) => {
        if (e instanceof Superseded) throw e;
        return null; // the id stands in for the email
      })));
    answers.forEach((a, i) => emails.set(missing[i], a?.status === 200 ? a.body.email : missing[i]));
  }
  return emails;
}

// ------------------------------------------------------------------ edit

const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);

/** Where `value` holds a null as an object's member, which a merge patch cannot set. */
function nullMember(value, path) {
  if (!isObject(value)) return null;
  for (const [k, v] of Object.entries(value)) {
    if (v === null) return `${path}.${k}`;
    const inner = nullMember(v, `${path}.${k}`);
    if (inner) return inner;
  }
  return null;
}

/**
 * The RFC 7396 merge patch that turns `from` into `to`: removed keys as
 * null, changed values as they are, objects patched member by member.
 * Keys are own properties only (`constructor` or `__proto__` are keys
 * like any other), and a null that would have to be sent as a value is
 * refused, since the patch would remove the key instead.
 */
function mergePatch(from, to, path = "metadata") {
  const patch = Object.create(null);
  const set = (k, v) => Object.defineProperty(patch, k, { value: v, enumerable: true, writable: true });
  for (const k of Object.keys(from)) if (!Object.hasOwn(to, k)) set(k, null);
  for (const [k, v] of Object.entries(to)) {
    const old = Object.hasOwn(from, k) ? from[k] : undefined;
    if (isObject(old) && isObject(v)) {
      const inner = mergePatch(old, v, `${path}.${k}`);
      if (Object.keys(inner).length) set(k, inner);
    } else if (JSON.stringify(old) !== JSON.stringify(v)) {
      const at = v === null ? `${path}.${k}` : nullMember(v, `${path}.${k}`);
      if (at) throw new Error(`${at} cannot be set to null: remove the key instead.`);
      set(k, v);
    }
  }
  return patch;
}

function startEdit() {
  const f = $("edit-form");
  f.elements.name.value = opened.entity.name;
  f.elements.metadata.value = JSON.stringify(opened.entity.metadata, null, 2);
  opened.base = opened.entity;
  $("conflict").hidden = true;
  f.hidden = false;
  f.elements.name.focus();
}

async function saveEdit(form) {
  let metadata;
  try {
    metadata = JSON.parse(form.elements.metadata.value || "{}");
  } catch (e) {
    throw new Error(`The metadata is not JSON: ${e.message}`);
  }
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
    throw new Error("The metadata must be a JSON object.");
  }
  const base = opened.base;
  const patch = {};
  const name = form.elements.name.value.trim();
  if (name !== base.name) patch.name = name;
  const m = mergePatch(base.metadata ?? {}, metadata);
  if (Object.keys(m).length) patch.metadata = m;
  if (!Object.keys(patch).length) {
    form.hidden = true;
    say("Nothing changed.");
    return;
  }
  const ticket = openTicket;
  const res = await api("PATCH", `/v1/entities/${encodeURIComponent(base.id)}`, {
    body: patch,
    headers: { "Content-Type": "application/merge-patch+json", "If-Match": `"${base.version}"` },
    accept: [412],
  });
  if (ticket !== openTicket) {
    // Another entity was opened meanwhile: report, repaint nothing.
    say(res.status === 412 ? `Not saved: ${base.name} changed meanwhile.` : `Saved ${res.body.name}.`);
    return;
  }
  if (res.status === 412) {
    await showConflict(base.id, name, metadata, ticket);
    return;
  }
  opened.entity = res.body;
  form.hidden = true;
  showEntity(res.body);
  await loadHistory(base.id, false, () => ticket !== openTicket);
  updateNode(res.body);
  say(`Saved ${res.body.name} (version ${res.body.version}).`);
}

async function showConflict(id, name, metadata, ticket) {
  const { body: current } = await api("GET", `/v1/entities/${encodeURIComponent(id)}`);
  await people([current.updated_by]);
  if (ticket !== openTicket) return;
  opened.entity = current;
  showEntity(current);
  updateNode(current);
  const box = $("conflict");
  box.replaceChildren(
    el("strong", {}, "Someone else changed this entity since you opened it. "),
    `It is now version ${current.version}, changed ${when(current.updated_at)} by ${emails.get(current.updated_by) ?? current.updated_by}. Your edit was not saved.`,
    el("pre", {}, `Their name: ${current.name}\nYour name:  ${name}\n\n`
      + `Their metadata: ${JSON.stringify(current.metadata)}\nYour metadata:  ${JSON.stringify(metadata)}`),
    el("div", { className: "row" },
      el("button", { type: "button", on: { click: () => {
        opened.base = current; // re-apply yours over theirs, knowingly
        box.hidden = true;
        say("Your edit now applies to the current version: save again to keep it.");
      } } }, "Keep my edit over theirs"),
      el("button", { type: "button", className: "quiet", on: { click: () => {
        $("edit-form").hidden = true;
        box.hidden = true;
      } } }, "Discard my edit")),
  );
  box.hidden = false;
  $("edit-form").elements.name.value = name;
  $("edit-form").elements.metadata.value = JSON.stringify(metadata, null, 2);
  await loadHistory(id, false, () => ticket !== openTicket);
  say("Not saved: the entity changed meanwhile.");
}

function updateNode(e) {
  if (!cy) return;
  const n = cy.getElementById(e.id);
  if (n.nonempty()) n.data("label", e.name);
  if (graphData.nodes.has(e.id)) graphData.nodes.set(e.id, e);
  summarise();
}

async function restore() {
  const { body } = await api("POST", `/v1/entities/${encodeURIComponent(opened.id)}/restore`, { body: {} });
  say(`Restored, with ${body.relationships?.length ?? 0} relationships.`);
  shown.open = null;
  await render();
}

// ----------------------------------------------------------------- wiring

function wire() {
  $("sign-in-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    attempt(() => signIn(ev.target));
  });
  $("sign-out").addEventListener("click", () => attempt(signOut));
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search(ev.target);
  });
  $("search-clear").addEventListener("click", () => {
    resultPages.length = 0;
    writeView({ name: "", q: "", type: "", source_type: "", min_confidence: "", cursor: "" });
  });
  $("results-next").addEventListener("click", () => {
    resultPages.push(readView().cursor ?? "");
    writeView({ cursor: $("results-next").dataset.cursor });
  });
  $("results-prev").addEventListener("click", () => writeView({ cursor: resultPages.pop() ?? "" }));
  $("deleted").addEventListener("toggle", () => {
    if ($("deleted").open) attempt(() => loadDeleted(false));
  });
  $("deleted-more").addEventListener("click", () => attempt(() => loadDeleted(true)));
  $("graph-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    // Draw starts afresh, also with the same filters (expansions go).
    shown.graph = null;
    const f = ev.target.elements;
    writeView({
      depth: f.depth.value, ntype: f.ntype.value.trim(), rtype: f.rtype.value.trim(),
      nmin: f.nmin.value, max_nodes: f.max_nodes.value,
    });
  });
  $("zoom-in").addEventListener("click", () => cy?.zoom({ level: cy.zoom() * 1.25, renderedPosition: centre() }));
  $("zoom-out").addEventListener("click", () => cy?.zoom({ level: cy.zoom() / 1.25, renderedPosition: centre() }));
  $("zoom-fit").addEventListener("click", () => cy?.fit(undefined, 30));
  $("relayout").addEventListener("click", () => cy && layout(true));
  $("centre").addEventListener("click", () => writeView({ entity: opened.id, open: undefined }));
  $("expand").addEventListener("click", () => attempt(async () => {
    if (!graphData.nodes.has(opened.id)) {
      writeView({ entity: opened.id, open: undefined });
      return;
    }
    await expand(opened.id);
  }));
  $("edit").addEventListener("click", startEdit);
  $("edit-cancel").addEventListener("click", () => {
    $("edit-form").hidden = true;
  });
  $("edit-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    attempt(() => saveEdit(ev.target));
  });
  $("restore").addEventListener("click", () => attempt(restore));
  $("history-more").addEventListener("click", () => attempt(() => {
    const ticket = openTicket;
    return loadHistory(opened.id, true, () => ticket !== openTicket);
  }));
  // The skip link moves focus; following it as a link would empty the view.
  document.querySelector(".skip").addEventListener("click", (ev) => {
    ev.preventDefault();
    $("main").focus();
  });
  window.addEventListener("hashchange", () => render());
  document.addEventListener("keydown", (ev) => {
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
    if (ev.key === "/" && !typing && signedIn()) {
      ev.preventDefault();
      $("search-form").elements.name.focus();
    }
  });
}

function centre() {
  return { x: cy.width() / 2, y: cy.height() / 2 };
}

wire();
show();
