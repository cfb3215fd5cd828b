// The graph explorer, driven in headless Chromium against a live kg.
//
// Starts the kg binary named by KG_BIN on a fresh SQLite database, seeds a
// small graph through the API, and then, as a user would: signs in,
// searches, opens an entity, expands its neighbours, applies a confidence
// filter, edits a name (and meets a conflicting edit), restores a deleted
// entity, shares a view by link, works from the keyboard and at phone
// width, signs out; then once more on a server with cookie sessions on.
//
// Every check fails on any console error, uncaught exception, breach of
// the page's Content-Security-Policy, or request to another host.
// Screenshots go to KG_EXPLORER_ARTIFACTS (default: artifacts/explorer).
// With --readme, the first screenshot is also written to docs/explorer.png.
//
// Prints `explorer: N passed, M failed` and exits 1 if anything failed.
//
// Usage: KG_BIN=path/to/kg node tests/explorer/run.mjs [--readme]
// Needs: `npm ci` in tests/explorer and Chromium (/usr/bin/chromium, or CHROMIUM=path).

import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const artifacts = resolve(process.env.KG_EXPLORER_ARTIFACTS ?? join(root, "artifacts/explorer"));
const ADMIN = "explorer-admin@example.org";

const results = { passed: [], failed: [] };
const report = [];

function record(name, ok, detail = "") {
  (ok ? results.passed : results.failed).push(name);
  console.log(`explorer: ${name}: ${ok ? "ok" : "FAILED"}${detail ? ` - ${detail}` : ""}`);
}

function freePort() {
  return new Promise((ok, no) => {
    const s = createServer();
    s.on("error", no);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A kg on a fresh database, with an admin; answers its URL and password. */
async function startKg(kg, work, name, extra = {}) {
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("KG_")));
  Object.assign(env, {
    KG_ENV: "development",
    KG_DATA_DIR: join(work, `data-${name}`),
    KG_BIND: `127.0.0.1:${port}`,
    KG_LOG: "warn",
    KG_LOG_FORMAT: "json",
    KG_RATE_LIMIT_PER_MINUTE: "100000",
    KG_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
    KG_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: "100000",
    ...extra,
  });
  const password = randomBytes(18).toString("base64url");
  const created = spawnSync(kg, ["user", "create", "--email", ADMIN, "--role", "admin", "--password-stdin"], {
    input: `${password}\n`, env, encoding: "utf8",
  });
  if (created.status !== 0) throw new Error(`kg user create failed: ${created.stderr}`);
  // The server's log is kept with the screenshots.
  const log = openSync(join(artifacts, `kg-${name}.log`), "w");
  const server = spawn(kg, ["serve"], { env, stdio: ["ignore", log, log] });
  const base = `http://127.0.0.1:${port}`;
  const exited = new Promise((ok) => server.once("exit", ok));
  const stop = async () => {
    if (server.exitCode === null) server.kill("SIGTERM");
    await exited;
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`kg exited with ${server.exitCode} before it was ready`);
    try {
      if ((await fetch(`${base}/health/ready`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error("kg was not ready within 60 s");
    }
    await sleep(200);
  }
  return { base, password, stop };
}

/** The API, as a script outside the page sees it. */
async function client(base, password) {
  const login = await fetch(`${base}/v1/auth/token`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: ADMIN, password }),
  });
  if (login.status !== 200) throw new Error(`the admin could not sign in: ${login.status}`);
  const { access_token: token } = await login.json();
  return async (method, path, body, headers = {}) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, etag: res.headers.get("etag") };
  };
}

/**
 * A graph with a centre, "Ada Lovelace", linked to 12 people and works with
 * confidences from 0.35 to 0.95, each of those linked on to two more.
 */
async function seed(call) {
  const types = ["person", "work", "place"];
  const make = async (name, type, confidence) => {
    const res = await call("POST", "/v1/entities", {
      type, name, confidence, source: "https://example.org/seed", source_type: "document",
      metadata: { seeded: true, letters: name.length },
    });
    if (res.status !== 201) throw new Error(`seeding ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const link = async (from, to, type, confidence) => {
    const res = await call("POST", "/v1/relationships", { source_id: from.id, target_id: to.id, type, confidence });
    if (res.status !== 201) throw new Error(`seeding a link: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const ada = await make("Ada Lovelace", "person", 0.99);
  const ring = [];
  for (let i = 0; i < 12; i++) {
    const e = await make(`${["Charles", "Mary", "Analytical", "London", "Note"][i % 5]} ${i}`, types[i % 3], 0.9);
    ring.push(e);
    await link(ada, e, i % 2 ? "KNEW" : "WROTE", Math.round((0.35 + i * 0.05) * 100) / 100);
  }
  const outer = [];
  for (const [i, e] of ring.entries()) {
    for (const j of [0, 1]) {
      const o = await make(`Outer ${i}-${j}`, types[(i + j) % 3], 0.7);
      outer.push(o);
      await link(e, o, "MENTIONS", 0.6);
    }
  }
  const web = await call("POST", "/v1/entities", {
    type: "work", name: "A Web Page", confidence: 0.5, source: "https://example.org/page", source_type: "web",
  });
  if (web.status !== 201) throw new Error(`seeding the web page: ${web.status}`);
  const doomed = await make("Doomed Draft", "work", 0.4);
  await link(doomed, ada, "CITES", 0.5);
  return { ada, ring, outer, doomed };
}

/** Watches a page for what no check may see: errors, policy breaches, other hosts. */
function watch(page, base) {
  const origin = new URL(base).origin;
  const seen = [];
  page.on("console", (m) => {
    if (m.type() === "error" || /Content.Security.Policy/i.test(m.text())) seen.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => seen.push(`uncaught: ${e.message}`));
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith("data:") && !url.startsWith("blob:") && new URL(url).origin !== origin) {
      seen.push(`request to another host: ${url}`);
    }
  });
  return seen;
}

async function newPage(browser, base, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  // Policy violations are also reported to the page itself.
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__violations.push(`${e.violatedDirective}: ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  const seen = watch(page, base);
  return { context, page, seen };
}

/** Chromium's own line for an answer that is not 2xx: not the page's error. */
const REFUSED = /^Failed to load resource: the server responded with a status of (\d+)/;

/** What the watchers saw outside any check fails the run too. */
function nothingLeft(seen) {
  record("nothing else went wrong on the page", seen.length === 0, seen.join("; "));
}

/**
 * Runs one check: its body throws to fail; the page must stay clean. A
 * check that provokes a refusal on purpose (a stale edit's 412) names its
 * status in `expected`; Chromium's console line for it is then not a fault.
 */
async function check(name, page, seen, body, expected = []) {
  const before = seen.length;
  let detail = "";
  let ok = true;
  try {
    detail = (await body()) ?? "";
  } catch (e) {
    ok = false;
    detail = e.message.split("\n")[0];
  }
  const violations = page ? await page.evaluate(() => window.__violations ?? []).catch(() => []) : [];
  // An error the page caught and showed is a failure too.
  const alert = page && (await page.locator("#alert").isVisible().catch(() => false))
    ? await page.locator("#alert").innerText() : null;
  const dirt = [
    ...(alert ? [`the page showed an error: ${alert}`] : []),
    ...seen.splice(before).filter((line) => !expected.includes(Number(line.replace("console error: ", "").match(REFUSED)?.[1]))),
    ...violations.map((v) => `policy violation: ${v}`),
  ];
  if (dirt.length) {
    ok = false;
    detail = [detail, ...dirt].filter(Boolean).join("; ");
  }
  record(name, ok, detail);
}

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

async function shot(page, name) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/**
 * Searches for "Mary" with the first search answered 401, as an expired
 * access token would be; answers whether that 401 was sent. The page must
 * renew and retry to show the three results.
 */
async function searchPastOne401(page) {
  const search = /\/v1\/entities\?/;
  let refused = false;
  await page.route(search, (route) => {
    if (refused) return route.continue();
    refused = true;
    return route.fulfill({
      status: 401, contentType: "application/problem+json",
      body: JSON.stringify({ type: "about:blank", title: "Unauthorized", status: 401, code: "token_expired" }),
    });
  });
  await page.getByLabel("Name starts with").fill("Mary");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.waitForFunction(() => document.querySelectorAll("#results button").length === 3);
  await page.unroute(search);
  return refused;
}

/** The `Authorization` the page sends on the API request `action` causes. */
async function lastBearer(page, action) {
  const [request] = await Promise.all([
    page.waitForRequest((q) => new URL(q.url()).pathname.startsWith("/v1/entities")),
    action(),
  ]);
  return request.headers().authorization;
}

async function signIn(page, base, password) {
  await page.goto(`${page.url().startsWith(base) ? page.url() : `${base}/explore`}`);
  await page.getByLabel("Email").fill(ADMIN);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#workspace").waitFor({ state: "visible" });
}

const summary = (page) => page.locator("#graph-summary").innerText();
const counts = async (page) => {
  const m = (await summary(page)).match(/(\d+) nodes, (\d+) edges/);
  return m ? { nodes: Number(m[1]), edges: Number(m[2]) } : { nodes: -1, edges: -1 };
};

async function bearerRun(browser, kg, work, readme) {
  const { base, password, stop } = await startKg(kg, work, "bearer");
  try {
    const call = await client(base, password);
    const g = await seed(call);
    const { page, seen } = await newPage(browser, base);

    await check("the page and its policy", page, seen, async () => {
      const res = await page.goto(`${base}/explore`);
      expect(res.status() === 200, `GET /explore answered ${res.status()}`);
      const csp = res.headers()["content-security-policy"] ?? "";
      expect(csp.includes("default-src 'none'") && csp.includes("script-src 'self'") && !csp.includes("unsafe"), `policy: ${csp}`);
      await page.getByRole("heading", { name: "Sign in" }).waitFor();
      return `${csp.split(";").length} directives`;
    });

    // The control: the watchers do see a breach, a script from elsewhere.
    const blocked = await page.evaluate(() => new Promise((ok) => {
      const s = document.createElement("script");
      s.src = "https://example.com/x.js";
      s.onerror = () => ok(window.__violations.length);
      document.head.append(s);
    }));
    const control = (l) => l.includes("example.com/x.js") || /Content Security Policy/.test(l);
    const caught = seen.filter(control);
    const others = seen.filter((l) => !control(l));
    seen.length = 0;
    seen.push(...others);
    record("the watchers see a breach (control)", blocked === 1
      && caught.some((l) => l.startsWith("request to another host"))
      && caught.some((l) => /Content Security Policy/.test(l)), caught.join("; "));
    await page.evaluate(() => { window.__violations.length = 0; });

    await check("sign in, tokens in memory only", page, seen, async () => {
      await signIn(page, base, password);
      const stored = await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
      expect(stored[0] === 0 && stored[1] === 0 && stored[2] === "", `stored: ${JSON.stringify(stored)}`);
      expect((await page.locator("#who-name").innerText()).includes(ADMIN), "the header does not name the user");
    });

    await check("search by name prefix, type and confidence", page, seen, async () => {
      await page.getByLabel("Name starts with").fill("Ada");
      await page.getByRole("button", { name: "Search", exact: true }).click();
      await page.waitForFunction(() => document.querySelectorAll("#results button").length === 1);
      expect((await page.locator("#results button").innerText()).startsWith("Ada Lovelace"), "Ada was not found");
      await page.getByRole("button", { name: "Clear" }).click();
      await page.getByLabel("Name contains").fill("LOVEL");
      await page.getByRole("button", { name: "Search", exact: true }).click();
      await page.waitForFunction(() => location.hash.includes("q=LOVEL"));
      await page.waitForFunction(() => document.querySelectorAll("#results button").length === 1
        && document.querySelector("#results button").innerText.startsWith("Ada Lovelace"));
      await page.getByRole("button", { name: "Clear" }).click();
      await page.getByLabel("Source type").fill("web");
      await page.getByRole("button", { name: "Search", exact: true }).click();
      await page.waitForFunction(() => document.querySelectorAll("#results button").length === 1
        && document.querySelector("#results button").innerText.startsWith("A Web Page"));
      await page.getByRole("button", { name: "Clear" }).click();
      await page.getByLabel("Type", { exact: true }).fill("work");
      await page.getByLabel("Minimum confidence").fill("0.8");
      await page.getByRole("button", { name: "Search", exact: true }).click();
      await page.waitForFunction(() => location.hash.includes("type=work"));
      const api = await call("GET", "/v1/entities?type=work&min_confidence=0.8&limit=25");
      await page.waitForFunction((n) => document.querySelectorAll("#results button").length === n, api.body.items.length);
      return `${api.body.items.length} works at 0.8 or more`;
    });

    await check("results paged with the API's cursors", page, seen, async () => {
      await page.getByRole("button", { name: "Clear" }).click();
      await page.waitForFunction(() => document.querySelectorAll("#results button").length === 25);
      const first = await page.locator("#results button").first().innerText();
      await page.getByRole("button", { name: "Next" }).click();
      await page.waitForFunction((f) => document.querySelector("#results button")?.innerText !== f, first);
      const second = await page.locator("#results button").count();
      const total = (await call("GET", "/v1/entities?limit=100")).body.items.length;
      expect(second === Math.min(25, total - 25), `page 2 holds ${second}`);
      await page.getByRole("button", { name: "Previous" }).click();
      await page.waitForFunction((f) => document.querySelector("#results button")?.innerText === f, first);
    });

    await check("open an entity: attributes, relationships, history, graph", page, seen, async () => {
      await page.getByLabel("Name starts with").fill("Ada");
      await page.getByRole("button", { name: "Search", exact: true }).click();
      await page.locator("#results button", { hasText: "Ada Lovelace" }).click();
      await page.locator("#entity-title", { hasText: "Ada Lovelace" }).waitFor();
      await page.waitForFunction(() => window.kgExplorerLastDraw?.nodes > 1);
      await page.locator("#entity-history li").first().waitFor();
      await page.locator("#entity-relationships .rel-group").first().waitFor();
      const fields = await page.locator("#entity-fields").innerText();
      expect(fields.includes(g.ada.id) && fields.includes("0.99"), `fields: ${fields}`);
      expect((await page.locator("#entity-metadata").innerText()).includes('"seeded": true'), "metadata not shown");
      const rels = await page.locator("#entity-relationships").innerText();
      expect(rels.includes("Outgoing → KNEW (6)") && rels.includes("Outgoing → WROTE (6)") && rels.includes("Incoming ← CITES (1)"), `relationships: ${rels}`);
      expect((await page.locator("#entity-history li").first().innerText()).includes("create"), "no create in the history");
      const c = await counts(page);
      expect(c.nodes === 14 && c.edges === 13, `drew ${JSON.stringify(c)}`);
      await shot(page, "1-entity-and-neighbourhood");
    });

    await check("click a node to open it, double-click to expand it", page, seen, async () => {
      const at = async (name) => {
        const box = await page.locator("#graph").boundingBox();
        const p = await page.evaluate((n) => {
          const node = window.kgExplorer.cy.nodes().filter((x) => x.data("label") === n);
          return node.renderedPosition();
        }, name);
        return { x: box.x + p.x, y: box.y + p.y };
      };
      const mary = await at("Mary 1");
      await page.mouse.click(mary.x, mary.y);
      await page.locator("#entity-title", { hasText: "Mary 1" }).waitFor();
      const note = await at("Note 9");
      await page.mouse.dblclick(note.x, note.y);
      await page.waitForFunction(() => /^16 nodes/.test(document.querySelector("#graph-summary").innerText));
      // Draw starts the drawing afresh, for the checks that follow.
      await page.evaluate((id) => { location.hash = `entity=${id}`; }, g.ada.id);
      await page.locator("#entity-title", { hasText: "Ada Lovelace" }).waitFor();
      await page.getByRole("button", { name: "Draw" }).click();
      await page.waitForFunction(() => /^14 nodes/.test(document.querySelector("#graph-summary").innerText));
    });

    await check("expand a neighbour's neighbours", page, seen, async () => {
      await page.locator("details.nodes summary").click();
      const row = page.locator("#node-list li", { hasText: "Charles 0 (person)" });
      await row.getByRole("button", { name: "Expand" }).click();
      await page.waitForFunction(() => /^16 nodes/.test(document.querySelector("#graph-summary").innerText));
      const c = await counts(page);
      expect(c.nodes === 16 && c.edges === 15, `after expanding: ${JSON.stringify(c)}`);
      await shot(page, "2-expanded");
      return `${c.nodes} nodes`;
    });

    await check("depth and a confidence filter", page, seen, async () => {
      await page.getByLabel("Depth").selectOption("2");
      await page.getByLabel("Min. confidence").fill("0.8");
      await page.getByRole("button", { name: "Draw" }).click();
      await page.waitForFunction(() => location.hash.includes("nmin=0.8"));
      const api = await call("GET", `/v1/entities/${g.ada.id}/neighbors?depth=2&min_confidence=0.8&max_nodes=200`);
      await page.waitForFunction((n) => new RegExp(`^${n} nodes`).test(document.querySelector("#graph-summary").innerText), api.body.nodes.length);
      const c = await counts(page);
      expect(c.edges === api.body.edges.length && c.edges < 13, `drew ${JSON.stringify(c)}, the API has ${api.body.edges.length} edges`);
      expect(api.body.edges.every((e) => e.confidence >= 0.8), "the API let a weak edge through");
      await shot(page, "3-filtered");
      return `${c.nodes} nodes, ${c.edges} edges at 0.8 or more`;
    });

    await check("the node budget and truncated shown", page, seen, async () => {
      await page.getByLabel("Min. confidence").fill("");
      await page.getByLabel("Node budget").fill("5");
      await page.getByRole("button", { name: "Draw" }).click();
      await page.locator("#graph-summary .cut").waitFor();
      const text = await summary(page);
      expect(/^5 nodes/.test(text) && text.includes("truncated by nodes"), `summary: ${text}`);
      await page.getByLabel("Node budget").fill("");
      await page.getByLabel("Depth").selectOption("1");
      await page.getByRole("button", { name: "Draw" }).click();
      await page.waitForFunction(() => /^14 nodes/.test(document.querySelector("#graph-summary").innerText));
      return text;
    });

    await check("a few hundred nodes stay readable", page, seen, async () => {
      const spokes = 300;
      const batch = await call("POST", "/v1/batch", {
        entities: [
          { external_id: "hub", type: "place", name: "Hub" },
          ...Array.from({ length: spokes }, (_, i) => ({ external_id: `spoke-${i}`, type: ["person", "work", "place"][i % 3], name: `Spoke ${i}` })),
        ],
        relationships: Array.from({ length: spokes }, (_, i) => ({
          source_external_id: "hub", target_external_id: `spoke-${i}`, type: "NEAR", confidence: (i % 10) / 10,
        })),
      });
      expect(batch.status === 200, `the batch answered ${batch.status}: ${JSON.stringify(batch.body).slice(0, 300)}`);
      const hub = (await call("GET", "/v1/entities?name=Hub&limit=1")).body.items[0];
      await page.evaluate((id) => { location.hash = `entity=${id}&max_nodes=400`; }, hub.id);
      await page.waitForFunction((n) => window.kgExplorerLastLayout?.nodes === n, spokes + 1, { timeout: 60_000 });
      const { overlaps, ms } = await page.evaluate(() => window.kgExplorerLastLayout);
      await shot(page, "6-three-hundred-nodes");
      expect(overlaps <= spokes / 50, `${overlaps} pairs of nodes drawn on top of each other`);
      await page.evaluate((id) => { location.hash = `entity=${id}`; }, g.ada.id);
      await page.waitForFunction(() => /^14 nodes/.test(document.querySelector("#graph-summary").innerText));
      await page.locator("#edit").waitFor();
      return `${spokes + 1} nodes laid out in ${ms} ms, ${overlaps} overlapping pairs`;
    });

    await check("edit a name with its ETag", page, seen, async () => {
      await page.getByRole("button", { name: "Edit" }).click();
      await page.getByLabel("Name", { exact: true }).fill("Augusta Ada King");
      await page.getByRole("button", { name: "Save" }).click();
      await page.locator("#entity-title", { hasText: "Augusta Ada King" }).waitFor();
      const now = await call("GET", `/v1/entities/${g.ada.id}`);
      expect(now.body.name === "Augusta Ada King" && now.body.version === 2, `stored: ${now.body.name} v${now.body.version}`);
      await page.locator("#entity-history li", { hasText: "update" }).first().waitFor();
      await page.locator("#node-list li", { hasText: "Augusta Ada King" }).waitFor({ state: "attached" });
    });

    await check("a stale edit shows the conflict and overwrites nothing", page, seen, async () => {
      await page.getByRole("button", { name: "Edit" }).click();
      const other = await call("PATCH", `/v1/entities/${g.ada.id}`, { name: "Countess of Lovelace" },
        { "Content-Type": "application/merge-patch+json", "If-Match": '"2"' });
      expect(other.status === 200, `the other writer got ${other.status}`);
      await page.getByLabel("Name", { exact: true }).fill("Ada Byron");
      await page.getByRole("button", { name: "Save" }).click();
      await page.locator("#conflict").waitFor({ state: "visible" });
      const conflict = await page.locator("#conflict").innerText();
      expect(conflict.includes("Countess of Lovelace") && conflict.includes("Ada Byron"), `conflict: ${conflict}`);
      const stored = await call("GET", `/v1/entities/${g.ada.id}`);
      expect(stored.body.name === "Countess of Lovelace", `overwritten: ${stored.body.name}`);
      await page.locator("#node-list li", { hasText: "Countess of Lovelace" }).waitFor({ state: "attached" });
      await shot(page, "4-conflict");
      // Knowingly keeping one's own edit sends it against the new version.
      await page.getByRole("button", { name: "Keep my edit over theirs" }).click();
      await page.getByRole("button", { name: "Save" }).click();
      await page.locator("#entity-title", { hasText: "Ada Byron" }).waitFor();
      const kept = await call("GET", `/v1/entities/${g.ada.id}`);
      expect(kept.body.name === "Ada Byron" && kept.body.version === 4, `stored: ${kept.body.name} v${kept.body.version}`);
    }, [412]);

    await check("an admin restores a deleted entity", page, seen, async () => {
      const del = await call("DELETE", `/v1/entities/${g.doomed.id}`, undefined, { "If-Match": '"1"' });
      expect(del.status === 204, `delete answered ${del.status}`);
      await page.evaluate((id) => { location.hash = `open=${id}`; }, g.doomed.id);
      await page.locator("#entity-deleted").waitFor({ state: "visible" });
      await page.getByRole("button", { name: "Restore" }).click();
      await page.locator("#entity-title", { hasText: "Doomed Draft" }).waitFor();
      const now = await call("GET", `/v1/entities/${g.doomed.id}`);
      expect(now.status === 200, `after restore: ${now.status}`);
      // Its relationship, which the deletion took, is back with it.
      await page.locator("#entity-relationships", { hasText: "Outgoing → CITES (1)" }).waitFor();
    }, [404]);

    await check("a view shared by link", page, seen, async () => {
      const hash = `#entity=${g.ring[1].id}&depth=2&nmin=0.5`;
      const { page: other, seen: otherSeen, context } = await newPage(browser, base);
      await other.goto(`${base}/explore${hash}`);
      await signIn(other, base, password);
      await other.locator("#entity-title", { hasText: g.ring[1].name }).waitFor();
      const api = await call("GET", `/v1/entities/${g.ring[1].id}/neighbors?depth=2&min_confidence=0.5&max_nodes=200`);
      await other.waitForFunction((n) => new RegExp(`^${n} nodes`).test(document.querySelector("#graph-summary").innerText), api.body.nodes.length);
      expect((await other.getByLabel("Depth").inputValue()) === "2", "the depth was not restored from the link");
      seen.push(...otherSeen);
      await context.close();
      return `${api.body.nodes.length} nodes from the link`;
    });

    await check("from the keyboard", page, seen, async () => {
      await page.locator("body").click({ position: { x: 5, y: 5 } });
      await page.keyboard.press("/");
      expect(await page.evaluate(() => document.activeElement?.name === "name"), "'/' did not focus the search");
      await page.keyboard.press("Control+A");
      await page.keyboard.type("Mary");
      await page.keyboard.press("Enter");
      await page.waitForFunction(() => document.querySelectorAll("#results button").length === 3);
      await page.locator("#results button").first().focus();
      await page.keyboard.press("Enter");
      await page.locator("#entity-title", { hasText: "Mary" }).waitFor();
      await page.waitForFunction(() => document.activeElement?.id === "entity-title", null, { timeout: 10_000 })
        .catch(() => { throw new Error("focus did not move to the entity"); });
    });

    await check("readable on a phone-width screen", page, seen, async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await sleep(300);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow <= 0, `the page is ${overflow}px wider than the screen`);
      const graphWidth = await page.locator("#graph").evaluate((e) => e.getBoundingClientRect().width);
      expect(graphWidth > 300, `the graph is ${graphWidth}px wide`);
      await shot(page, "5-phone");
      await page.setViewportSize({ width: 1280, height: 800 });
    });

    await check("sign out ends the session", page, seen, async () => {
      const bearer = await lastBearer(page, async () => {
        await page.getByLabel("Name starts with").fill("Analytical");
        await page.getByRole("button", { name: "Search", exact: true }).click();
      });
      const before = await fetch(`${base}/v1/entities?limit=1`, { headers: { Authorization: bearer } });
      expect(before.status === 200, `the page's token did not work: ${before.status}`);
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByRole("heading", { name: "Sign in" }).waitFor();
      expect(await page.locator("#workspace").isHidden(), "the workspace is still shown");
      const after = await fetch(`${base}/v1/entities?limit=1`, { headers: { Authorization: bearer } });
      expect(after.status === 401, `the token still works after signing out: ${after.status}`);
    });

    await check("the access token renewed before it expires, and after a 401", null, seen, async () => {
      const { page: p, seen: pSeen, context } = await newPage(browser, base);
      await context.clock.install();
      let refreshes = 0;
      p.on("request", (q) => {
        if (new URL(q.url()).pathname === "/v1/auth/refresh") refreshes++;
      });
      await p.goto(`${base}/explore`);
      await signIn(p, base, password);
      await p.locator("#results button").first().waitFor();
      const searchFor = (name) => lastBearer(p, async () => {
        await p.getByLabel("Name starts with").fill(name);
        await p.getByRole("button", { name: "Search", exact: true }).click();
      });
      const first = await searchFor("Charles");
      // The default access token lives 15 minutes; within 30 s of its end
      // the page renews it before the next request.
      await p.clock.fastForward("14:40");
      const renewed = await searchFor("London");
      expect(refreshes === 1 && renewed !== first, `refreshes: ${refreshes}, same token: ${renewed === first}`);
      // A 401 (here, made up on the way) renews once and retries.
      const refused = await searchPastOne401(p);
      expect(refused && refreshes === 2, `refused: ${refused}, refreshes: ${refreshes}`);
      seen.push(...pSeen.filter((l) => !/status of 401/.test(l)));
      await context.close();
    });

    await check("page size and time to first drawn graph", null, seen, async () => {
      const { page: fresh, seen: freshSeen, context } = await newPage(browser, base);
      const requests = [];
      const onFinished = (r) => {
        if (new URL(r.url()).pathname.startsWith("/explore")) requests.push(r);
      };
      fresh.on("requestfinished", onFinished);
      const started = Date.now();
      await fresh.goto(`${base}/explore#entity=${g.ada.id}`, { waitUntil: "load" });
      const loaded = Date.now() - started;
      await signIn(fresh, base, password);
      const signedIn = Date.now();
      await fresh.waitForFunction(() => window.kgExplorerLastDraw?.nodes > 1);
      const drawn = Date.now() - signedIn;
      fresh.off("requestfinished", onFinished);
      const files = await Promise.all(requests.map(async (r) => {
        const sizes = await r.sizes();
        return { url: r.url(), encoded: sizes.responseBodySize };
      }));
      const body = files.reduce((n, s) => n + s.encoded, 0);
      report.push(`page: ${files.length} files, ${(body / 1024).toFixed(1)} KiB compressed; loaded in ${loaded} ms; `
        + `graph of ${(await fresh.evaluate(() => window.kgExplorerLastDraw.nodes))} nodes drawn ${drawn} ms after signing in`);
      // A reload revalidates the script, stylesheet and library by their
      // tags: none is sent again.
      const statuses = [];
      fresh.on("response", (res) => {
        if (/\.(js|css)$/.test(new URL(res.url()).pathname)) statuses.push(res.status());
      });
      await fresh.reload({ waitUntil: "load" });
      seen.push(...freshSeen);
      await context.close();
      expect(files.length === 5 && body > 100_000 && body < 400_000, `loaded ${JSON.stringify(files)}`);
      expect(statuses.length === 3 && statuses.every((s) => s === 304), `a reload answered ${statuses}`);
      return report.at(-1);
    });

    if (readme) copyFileSync(join(artifacts, "1-entity-and-neighbourhood.png"), join(root, "docs/explorer.png"));
    nothingLeft(seen);
  } finally {
    await stop();
  }
}

async function cookieRun(browser, kg, work) {
  const { base, password, stop } = await startKg(kg, work, "cookie", { KG_COOKIE_AUTH: "true" });
  try {
    const call = await client(base, password);
    const g = await seed(call);
    const { page, seen } = await newPage(browser, base);
    await check("cookie sessions: sign in, read, edit and renew with the CSRF token", page, seen, async () => {
      await page.goto(`${base}/explore#entity=${g.ring[0].id}`);
      await signIn(page, base, password);
      const cookies = await page.context().cookies();
      expect(cookies.some((c) => c.name === "kg_access" && c.httpOnly), `cookies: ${cookies.map((c) => c.name)}`);
      expect((await page.evaluate(() => document.cookie)) === "", "a cookie is readable by the page");
      await page.locator("#entity-title", { hasText: g.ring[0].name }).waitFor();
      await page.getByRole("button", { name: "Edit" }).click();
      await page.getByLabel("Name", { exact: true }).fill("Renamed by cookie");
      await page.getByRole("button", { name: "Save" }).click();
      await page.locator("#entity-title", { hasText: "Renamed by cookie" }).waitFor();
      expect((await call("GET", `/v1/entities/${g.ring[0].id}`)).body.name === "Renamed by cookie", "not stored");

      // A refused access cookie renews from the refresh cookie, with the CSRF token.
      const refreshes = [];
      page.on("request", (q) => {
        if (new URL(q.url()).pathname === "/v1/auth/refresh") refreshes.push(q.headers()["x-csrf-token"] ?? "");
      });
      const refused = await searchPastOne401(page);
      expect(refused && refreshes.length === 1 && refreshes[0].length > 20, `refreshes: ${JSON.stringify(refreshes)}`);
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByRole("heading", { name: "Sign in" }).waitFor();
      const after = await page.context().cookies();
      expect(!after.some((c) => c.name === "kg_access"), "sign-out left the access cookie");
    }, [401]);
    nothingLeft(seen);
  } finally {
    await stop();
  }
}

async function main() {
  const kg = process.env.KG_BIN?.trim();
  if (!kg || !existsSync(kg)) {
    console.error("KG_BIN must name the kg binary (cargo build -p kg-server)");
    return 2;
  }
  const browserPath = process.env.CHROMIUM || ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);
  if (!browserPath) {
    console.error("Chromium is not installed (apt-get install chromium, or set CHROMIUM)");
    return 2;
  }
  mkdirSync(artifacts, { recursive: true });
  // Only what an earlier run of this test wrote there.
  for (const f of readdirSync(artifacts)) {
    if (/^(\d-[a-z-]+\.png|kg-[a-z]+\.log)$/.test(f)) rmSync(join(artifacts, f));
  }
  const work = mkdtempSync(join(tmpdir(), "kg-explorer-"));
  const browser = await chromium.launch({ executablePath: browserPath, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    await bearerRun(browser, kg, work, process.argv.includes("--readme"));
    await cookieRun(browser, kg, work);
  } catch (e) {
    record("setup", false, e.message);
  } finally {
    await browser.close();
    rmSync(work, { recursive: true, force: true });
  }
  for (const line of report) console.log(`explorer: ${line}`);
  console.log(`explorer: screenshots in ${artifacts}`);
  console.log(`explorer: ${results.passed.length} passed, ${results.failed.length} failed`);
  return results.failed.length ? 1 : 0;
}

process.exit(await main());
