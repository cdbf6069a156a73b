// An LTI launch inside an LMS's frame whose browser refuses labgate's cookie, as Safari and
// strict tracking protection do: headless Chromium opens a course page of a minimal LTI platform
// (this script: its own RSA key and JWKS, an authorization endpoint that signs id_tokens, and
// platform storage answering lti.put_data / lti.get_data) on localhost, which frames labgate's
// login on 127.0.0.1, another site. The browser is made to refuse the state cookie (the login's
// Set-Cookie is dropped before the browser sees it). The state goes through platform storage,
// the launch is accepted, and the lab opens at top level from the new-window link, where its
// session cookie is set. Run by scripts/smoke against scripts/dev.
//
//   LABGATE_API=http://127.0.0.1:<port> PLATFORM_PORT=… LAB_ORIGIN=… LABGATE_CONTENT_ID=…
//   CHROMIUM=/usr/bin/chromium node tests/browser/lti-iframe.mjs
import crypto from "node:crypto";
import http from "node:http";
import { chromium } from "playwright-core";

const api = process.env.LABGATE_API;
const platformPort = Number(process.env.PLATFORM_PORT);
const platform = `http://localhost:${platformPort}`;
const labOrigin = process.env.LAB_ORIGIN;
const contentId = process.env.LABGATE_CONTENT_ID;
const CLIENT_ID = "browser-client";
const DEPLOYMENT = "browser-deployment";

// The platform's signing key, made now; its public half is its JWKS.
const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...publicKey.export({ format: "jwk" }), kid: "browser-platform-1", alg: "RS256", use: "sig" };
const b64url = (data) => Buffer.from(data).toString("base64url");
function idToken(claims) {
  const head = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid: jwk.kid }));
  const body = b64url(JSON.stringify(claims));
  const signature = crypto.sign("sha256", Buffer.from(`${head}.${body}`), privateKey).toString("base64url");
  return `${head}.${body}.${signature}`;
}
const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

// The course page: labgate's login in a frame, and platform storage for it (the page itself is
// the storage target `_parent`). What the tool asked is logged for the checks.
const loginUrl = (storage) => `${api}/lti/login?` + new URLSearchParams({
  iss: platform, login_hint: storage ? "browser-learner" : "no-storage", target_link_uri: `${api}/lti/launch`,
  client_id: CLIENT_ID, lti_message_hint: "course-7", ...(storage ? { lti_storage_target: "_parent" } : {}),
});
const coursePage = (storage) => `<!doctype html><meta charset="utf-8"><title>Course</title>
<h1>Databases 101</h1>
<iframe name="tool" src="${escape(loginUrl(storage))}" width="800" height="400"></iframe>
<script>
  const stored = {};
  window.storageLog = [];
  window.addEventListener("message", (e) => {
    const d = e.data || {};
    if (d.subject === "lti.put_data") {
      stored[d.key] = d.value;
      window.storageLog.push("put " + e.origin + " " + d.key);
      e.source.postMessage({ subject: "lti.put_data.response", message_id: d.message_id, key: d.key, value: d.value }, e.origin);
    } else if (d.subject === "lti.get_data") {
      window.storageLog.push("get " + e.origin + " " + d.key);
      const answer = d.key in stored
        ? { subject: "lti.get_data.response", message_id: d.message_id, key: d.key, value: stored[d.key] }
        : { subject: "lti.get_data.response", message_id: d.message_id, key: d.key, error: { code: "bad_request" } };
      e.source.postMessage(answer, e.origin);
    }
  });
</script>`;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, platform);
  if (url.pathname === "/course" || url.pathname === "/course-without-storage") {
    res.writeHead(200, { "content-type": "text/html" }).end(coursePage(url.pathname === "/course"));
  } else if (url.pathname === "/jwks") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
  } else if (url.pathname === "/authorize") {
    // The platform's OIDC authorization endpoint: the id_token for the login's nonce, posted
    // back to the tool by the browser, with the storage target.
    const q = url.searchParams;
    const now = Math.floor(Date.now() / 1000);
    const token = idToken({
      iss: platform, aud: q.get("client_id"), sub: "browser-learner", iat: now, exp: now + 300,
      nonce: q.get("nonce"), given_name: "Grace", family_name: "Hopper", email: "grace@example.edu",
      "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
      "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
      "https://purl.imsglobal.org/spec/lti/claim/deployment_id": DEPLOYMENT,
      "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": q.get("redirect_uri"),
      "https://purl.imsglobal.org/spec/lti/claim/resource_link": { id: "browser-link-1", title: "Lab 1" },
      "https://purl.imsglobal.org/spec/lti/claim/roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
      "https://purl.imsglobal.org/spec/lti/claim/custom": { content_id: contentId },
      "https://purl.imsglobal.org/spec/lti/claim/launch_presentation": { document_target: "iframe" },
    });
    const storage = q.get("login_hint") !== "no-storage";
    const fields = { id_token: token, state: q.get("state"), ...(storage ? { lti_storage_target: "_parent" } : {}) };
    const inputs = Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${k}" value="${escape(v)}">`).join("");
    res.writeHead(200, { "content-type": "text/html" }).end(
      `<!doctype html><form id="f" method="post" action="${escape(q.get("redirect_uri"))}">${inputs}</form>` +
        `<script>document.getElementById("f").submit();</script>`);
  } else {
    res.writeHead(404).end();
  }
}).listen(platformPort, "127.0.0.1");

let failed = 0;
function check(name, ok, detail) {
  console.log(`${ok ? "ok  " : "FAIL"} browser: ${name}${ok ? "" : `: ${detail}`}`);
  if (!ok) failed++;
}

// Both sites are on this machine's loopback, which Chromium's Local Network Access checks would
// keep frames from navigating between; an LMS and labgate on the internet are public sites.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-features=LocalNetworkAccessChecks"],
});
try {
  const context = await browser.newContext();
  // The browser refuses labgate's cookie in the frame: the login's Set-Cookie never reaches it.
  let refused = 0;
  await context.route((u) => u.href.startsWith(`${api}/lti/login`), async (route) => {
    const response = await route.fetch();
    const headers = { ...response.headers() };
    if (headers["set-cookie"]) refused++;
    delete headers["set-cookie"];
    await route.fulfill({ response, headers });
  });
  // The lab itself (the tenant's app) is a stand-in page.
  await context.route((u) => u.href.startsWith(labOrigin), (route) =>
    route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>the lab</title><p>the lab</p>" }));

  const course = await context.newPage();
  // What went wrong on the way, for a failed check.
  const trail = [];
  course.on("requestfailed", (r) => trail.push(`failed ${r.method()} ${r.url().slice(0, 80)}: ${r.failure()?.errorText}`));
  course.on("framenavigated", (f) => trail.push(`frame ${f.name() || "top"} at ${f.url().slice(0, 80)}`));
  course.on("console", (m) => trail.push(`console ${m.text()}`));
  await course.goto(`${platform}/course`);
  const tool = course.frame({ name: "tool" });
  await tool.waitForSelector("text=Open the lab in a new window", { timeout: 30000 }).catch(() => {});
  const framed = await tool.content();
  check("labgate's state cookie was refused in the frame", refused === 1, `${refused} Set-Cookie dropped`);
  check("the launch is accepted inside the frame", framed.includes("Open the lab in a new window"),
    `${tool.url()}\n${trail.join("\n")}\n${framed.slice(0, 300)}`);
  const log = await course.evaluate(() => window.storageLog);
  check("the state went through platform storage (put at login, get at launch)",
    log.length === 2 && log[0].startsWith("put http://127.0.0.1:") && log[1].startsWith("get http://127.0.0.1:") &&
      log[0].split(" ")[2] === log[1].split(" ")[2] && log[0].includes(" labgate_state_"),
    JSON.stringify(log));

  // The new-window link opens the lab at top level, where labgate's session cookie is set.
  const [lab] = await Promise.all([context.waitForEvent("page"), tool.click("text=Open the lab in a new window")]);
  await lab.waitForURL((u) => u.href.startsWith(labOrigin), { timeout: 30000 }).catch(() => {});
  check("the lab opens at top level", lab.url().startsWith(labOrigin), lab.url());
  const cookies = await context.cookies(api);
  check("labgate's session cookie is set there", cookies.some((c) => c.name.endsWith("labgate_session")),
    JSON.stringify(cookies.map((c) => c.name)));

  // A platform without storage: the refused cookie cannot be made up for; the frame says to
  // open the lab in a new window, and nothing is launched.
  const plain = await context.newPage();
  await plain.goto(`${platform}/course-without-storage`);
  const plainTool = plain.frame({ name: "tool" });
  await plainTool.waitForSelector("text=did not keep", { timeout: 30000 }).catch(() => {});
  const said = await plainTool.content();
  check("without platform storage the frame asks for a new window", said.includes("Open the lab in a new window from the LMS"),
    said.slice(0, 300));
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
