// A lab app's front end at its own origin reads who is logged in, as a browser enforces it:
// headless Chromium follows a launch URL to the tenant's app (a page on another port, same
// site), whose script reads GET /api/v1/session with credentials; the same page at an origin
// the tenant does not allow is refused by the browser (no CORS headers), and cannot log the
// learner out. Run by scripts/smoke against scripts/dev (cargo lambda watch --disable-cors).
//
//   LABGATE_API=http://localhost:<port> LABGATE_TOKEN=… LABGATE_CONTENT_ID=… APP_PORT=… OTHER_PORT=…
//   node tests/browser/session-cors.mjs
import http from "node:http";
import { chromium } from "playwright-core";

const api = process.env.LABGATE_API;
const appPort = Number(process.env.APP_PORT);
const otherPort = Number(process.env.OTHER_PORT);

// The lab app: any path serves a page whose buttons call the API as a lab app would.
const page = `<!doctype html><meta charset="utf-8"><title>lab app</title>
<pre id="out">pending</pre>
<script>
  async function call(method) {
    try {
      const res = await fetch(${JSON.stringify(api)} + "/api/v1/session", { method, credentials: "include" });
      const text = await res.text();
      return "answered " + res.status + " " + text;
    } catch (e) {
      return "refused by the browser";
    }
  }
  window.call = call;
  call("GET").then((r) => { document.getElementById("out").textContent = r; });
</script>`;
const servers = [appPort, otherPort].map((port) =>
  http.createServer((_, res) => res.writeHead(200, { "content-type": "text/html" }).end(page)).listen(port, "127.0.0.1"),
);

let failed = 0;
function check(name, ok, detail) {
  console.log(`${ok ? "ok  " : "FAIL"} browser: ${name}${ok ? "" : `: ${detail}`}`);
  if (!ok) failed++;
}

const launched = await fetch(`${api}/api/v1/launch`, {
  method: "POST",
  headers: { authorization: `Token ${process.env.LABGATE_TOKEN}`, "content-type": "application/json" },
  body: JSON.stringify({ user_id: "browser-learner", content_id: process.env.LABGATE_CONTENT_ID }),
});
// The API names itself by LABGATE_API_URL (127.0.0.1); the browser uses localhost, the lab app's
// site, so that the Lax session cookie goes with the app's requests as it would under one domain.
const link = (await launched.json()).url.replace(/^http:\/\/127\.0\.0\.1:/, "http://localhost:");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const tab = await (await browser.newContext()).newPage();
  const result = async () => {
    await tab.waitForFunction(() => document.getElementById("out").textContent !== "pending", null, { timeout: 30000 });
    return tab.textContent("#out");
  };

  await tab.goto(link);
  check("the launch link lands on the tenant's app", tab.url().startsWith(`http://localhost:${appPort}/project/`), tab.url());
  let seen = await result();
  check("the app reads who is logged in", seen.startsWith("answered 200") && seen.includes('"external_id":"browser-learner"'), seen);

  await tab.goto(`http://localhost:${otherPort}/`);
  seen = await result();
  check("a page at another origin cannot read the session", seen === "refused by the browser", seen);
  seen = await tab.evaluate(() => window.call("DELETE"));
  check("nor log the learner out", seen === "refused by the browser", seen);

  await tab.goto(`http://localhost:${appPort}/project/again`);
  seen = await result();
  check("the learner is still logged in", seen.startsWith("answered 200"), seen);

  // A launch link for another user, followed from a page on another site (127.0.0.1 is not
  // localhost's site): the browser is asked first and stays signed in as the learner; only the
  // page's own button switches users (issue 12: no forced login).
  const other = await fetch(`${api}/api/v1/launch`, {
    method: "POST",
    headers: { authorization: `Token ${process.env.LABGATE_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ user_id: "someone-else", content_id: process.env.LABGATE_CONTENT_ID }),
  });
  const otherLink = (await other.json()).url.replace(/^http:\/\/127\.0\.0\.1:/, "http://localhost:");
  await tab.goto(`http://127.0.0.1:${otherPort}/`);
  await Promise.all([tab.waitForURL((u) => u.href.startsWith(otherLink.slice(0, 30))), tab.evaluate((l) => { window.location.href = l; }, otherLink)]);
  const asked = await tab.content();
  check("a link for another user asks before switching", asked.includes("Open this lab as another user?"), asked.slice(0, 200));
  await tab.goto(`http://localhost:${appPort}/project/again`);
  seen = await result();
  check("and the learner is still signed in", seen.includes('"external_id":"browser-learner"'), seen);
  await tab.goto(otherLink);
  await Promise.all([tab.waitForURL((u) => u.port === String(appPort)), tab.click("button")]);
  seen = await result();
  check("confirming signs the other user in", seen.includes('"external_id":"someone-else"'), seen);
  seen = await tab.evaluate(() => window.call("DELETE"));
  check("the app logs out", seen.startsWith("answered 204"), seen);
  seen = await tab.evaluate(() => window.call("GET"));
  check("and then nobody is logged in", seen === "refused by the browser" || seen.startsWith("answered 401"), seen);
} finally {
  await browser.close();
  servers.forEach((s) => s.close());
}
process.exit(failed ? 1 : 0);
