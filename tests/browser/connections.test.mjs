// The Cockpit page against the real service; conntrack -L is the referee.
// Prints TAP. Run by test_browser.py, which starts everything it needs.
import { ok, done, launch } from "./tap.mjs";
import { execFileSync, spawn } from "node:child_process";


/* conntrack -L, parsed: the referee. */
function conntrack(...args) {
    return table(false, args);
}
function conntrackAll() {
    return table(true, []);
}
function table(all, args) {
    let out;
    try {
        out = execFileSync("conntrack", ["-L", "-o", "extended,id", ...args], { stdio: ["ignore", "pipe", "ignore"] }).toString();
    } catch (e) {
        out = e.stdout ? e.stdout.toString() : "";
    }
    return out.split("\n").filter(l => l.includes(" id=")).map(l => {
        const f = l.trim().split(/\s+/);
        const kv = {}, orig = {}, reply = {};
        let bytes = 0;
        for (const t of f) {
            const m = t.match(/^(\w+)=(.*)$/);
            if (!m) continue;
            const dir = (m[1] in orig) ? reply : orig;
            if (["src", "dst", "sport", "dport", "packets"].includes(m[1])) dir[m[1]] = m[2];
            else if (m[1] === "bytes") { dir.bytes = m[2]; bytes += Number(m[2]) }   // total: both directions
            else kv[m[1]] = m[2];
        }
        return { id: kv.id, proto: f[2], timeout: Number(f[4]), orig, reply, bytes, unreplied: l.includes("[UNREPLIED]"), line: l };
    }).filter(e => all || !(BROWSER_PORTS.includes(e.orig.dport) || BROWSER_PORTS.includes(e.orig.sport)));
}
/* conntrack -C: the kernel's entry count, as the Count property reads it. */
const conntrackCount = () => Number(execFileSync("conntrack", ["-C"]).toString().trim());
/* The browser's own connections to cockpit-ws are in this namespace's table
 * too (and come back right after a flush): the referee leaves them out. */
const BROWSER_PORTS = ["9091", "9092"];
/* The entries gone between two snapshots are exactly `want` (the sandbox's
 * conntrack timeouts are long: nothing expires by itself during the test). */
function goneExactly(before, after, want) {
    const left = new Set(after.map(e => e.id));
    const unexpected = before.filter(e => !left.has(e.id) && !want.includes(e.id));
    return want.length > 0 && want.every(id => !left.has(id)) && unexpected.length === 0;
}
const ids = list => list.map(e => String(e.id)).sort();
const sh = (cmd, args) => execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

const browser = await launch();
const consoleErrors = [];
/* The page has settled when it shows the answer to the last refresh it asked
 * for (data-ready equals data-asked; see connections.js). */
const settled = after => {
    const asked = Number(document.body.dataset.asked || 0);
    return asked > after && document.body.dataset.ready === String(asked);
};
/* Opens the page and waits until the service's first answer (or error) is shown. */
async function open(url) {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on("console", m => { if (m.type() === "error") consoleErrors.push(m.text()) });
    page.on("pageerror", e => consoleErrors.push(String(e)));
    await page.goto(url);
    await page.waitForFunction(settled, 0, { timeout: 120000 }).catch(() => {});
    return page;
}
/* One action that changes the view, then the wait for the page to show it. */
async function settle(page, action) {
    const before = await page.evaluate(() => Number(document.body.dataset.asked || 0));
    await action();
    await page.waitForFunction(settled, before, { timeout: 60000 }).catch(() => {});
}
/* The Top talkers bars as shown: key -> [connections, bytes]. */
const bars = page => page.$$eval(".cd-talker", bs => Object.fromEntries(
    bs.map(b => [b.dataset.key, [Number(b.dataset.connections), Number(b.dataset.bytes)]])));
/* conntrack -L grouped by hand: key -> [connections, bytes]. */
function groupBy(entries, keyOf) {
    const g = {};
    for (const e of entries) {
        const k = keyOf(e);
        g[k] = g[k] || [0, 0];
        g[k][0]++;
        g[k][1] += e.bytes;
    }
    return g;
}
const natAddress = e => e.reply.dst !== e.orig.src ? e.reply.dst : e.reply.src !== e.orig.dst ? e.reply.src : "";
/* An endpoint as the table shows it ("[v6]:port", "v6", "v4:port", "v4"), its
 * address alone; and a key that orders addresses as the service does. */
function bareAddress(s) {
    if (s.startsWith("[")) return s.slice(1, s.indexOf("]"));
    return s.split(":").length > 2 ? s : s.split(":")[0];
}
function addrKey(a) {
    if (!a.includes(":"))   // IPv4 as the IPv4-mapped IPv6 address
        return "0".repeat(20) + "ffff" + a.split(".").map(x => Number(x).toString(16).padStart(2, "0")).join("");
    const [head, tail] = a.split("::");
    const h = head ? head.split(":") : [], t = tail ? tail.split(":") : [];
    const groups = a.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
    return groups.map(g => g.padStart(4, "0")).join("");
}
const shownIds = page => page.$$eval("#rows tr[data-id]", (trs, skip) =>
    trs.filter(t => !t.dataset.ports.split(",").some(p => skip.includes(p))).map(t => t.dataset.id).sort(), BROWSER_PORTS);
const allRows = page => page.$$eval("#rows tr[data-id]", trs => trs.map(t => t.dataset.id).sort());

try {
    const page = await open(process.env.URL);
    ok(await page.$("body[data-ready]") !== null, "the page loads and lists connections");
    const ref = conntrack();
    ok(JSON.stringify(await shownIds(page)) === JSON.stringify(ids(ref)),
       `the table shows exactly what conntrack -L has (${ref.length})`);
    // The whole table holds the browser's own connections, which come while
    // the page is read: the count shown must lie between the table's count
    // before a refresh and after it (nothing expires in the sandbox).
    const tableBefore = conntrackCount();
    await settle(page, () => page.click("#refresh"));
    const countShown = await page.evaluate(() => Number(document.body.dataset.count));
    const tableAfter = conntrackCount();
    ok(tableBefore <= countShown && countShown <= tableAfter && (await page.textContent("#counts")).includes(String(countShown)),
       `the count of the whole table is shown (${countShown}, the table had ${tableBefore} before and ${tableAfter} after)`,
       await page.textContent("#counts"));
    const styled = await page.evaluate(() => getComputedStyle(document.querySelector(".pf-v6-c-button")).borderRadius);
    ok(styled && styled !== "0px", "PatternFly's bundled styles apply");
    ok(await page.evaluate(() => document.body.dataset.access) === "change" && !(await page.isDisabled("#flush")) &&
       await page.getAttribute("#flush-why", "title") === null,
       "root's session may change the table: Delete all connections is enabled, without a warning");
    ok(await page.isDisabled("#delete-matching") &&
       /filter the table first/i.test(await page.getAttribute("#delete-matching-why", "title") || ""),
       "Delete matching is disabled without a filter, and its tooltip says why");

    // Top talkers: the bars against conntrack -L counted by hand. Groups the
    // browser's own connections to cockpit-ws fall in are left out.
    const talkerCases = [
        ["src", e => e.orig.src, ["127.0.0.1"]],
        ["dport", e => e.orig.dport || "0", BROWSER_PORTS],
        ["nat-address", natAddress, [""]],
    ];
    for (const [by, keyOf, skip] of talkerCases) {
        await settle(page, () => page.selectOption("#talkers-by", by));
        const shown = await bars(page);
        const want = groupBy(conntrack(), keyOf);
        const keys = Object.keys(shown).filter(k => !skip.includes(k));
        const bad = keys.filter(k => JSON.stringify(shown[k]) !== JSON.stringify(want[k]));
        const wantTop = Object.keys(want).filter(k => !skip.includes(k)).length;
        ok(keys.length >= Math.min(3, wantTop) && bad.length === 0 && Object.values(shown).some(v => v[1] > 0),
           `Top talkers by ${by}: ${keys.length} bars' connections and bytes agree with conntrack -L`,
           bad.map(k => `${k}: shown ${shown[k]}, conntrack ${want[k]}`).join("\n") || JSON.stringify(shown));
    }
    await settle(page, () => page.selectOption("#talkers-by", "src"));
    await settle(page, () => page.click('.cd-talker[data-key="10.0.0.2"]'));
    const lan = ids(conntrack().filter(e => e.orig.src === "10.0.0.2"));
    ok(lan.length > 0 && JSON.stringify(await shownIds(page)) === JSON.stringify(lan),
       `clicking the bar of source 10.0.0.2 filters the table to its ${lan.length} connections`);
    ok((await page.textContent("#pinned")).includes("10.0.0.2") && new URL(page.url()).hash === "#/?src=10.0.0.2",
       "and shows that filter, removable, and in the URL", page.url());
    const lanBars = await bars(page);
    ok(Object.keys(lanBars).length === 1 && lanBars["10.0.0.2"][0] === lan.length, "the bars follow the table's filter");
    await settle(page, () => page.click('.cd-pin[data-key="src"]'));
    ok(!(await page.textContent("#pinned")).includes("10.0.0.2"), "removing the filter from top talkers shows all again");
    await settle(page, () => page.selectOption("#talkers-by", "nat-address"));
    await settle(page, () => page.click('.cd-talker[data-key="198.51.100.2"]'));
    const viaWan1 = ids(conntrack().filter(e => natAddress(e) === "198.51.100.2"));
    ok(viaWan1.length > 0 && JSON.stringify(await shownIds(page)) === JSON.stringify(viaWan1) &&
       await page.inputValue("#f-nat-address") === "198.51.100.2",
       `clicking a NAT address fills the NAT address filter and shows its ${viaWan1.length} connections`);
    await settle(page, () => page.click("#clear"));
    await settle(page, () => page.selectOption("#talkers-by", "src"));

    // The four filters a firewall admin expects, and more.
    const cases = [
        ["#f-protocol", "udp", "select", e => e.proto === "udp"],
        ["#f-address", "10.0.0.2", "input", e => [e.orig.src, e.orig.dst, e.reply.src, e.reply.dst].includes("10.0.0.2")],
        ["#f-port", "80", "input", e => [e.orig.sport, e.orig.dport, e.reply.sport, e.reply.dport].includes("80")],
        ["#f-status", "UNREPLIED", "select", e => e.unreplied],
        ["#f-nat-address", "198.51.100.2", "input", e => e.reply.dst === "198.51.100.2" && e.orig.src !== e.reply.dst],
        ["#f-interface", "wan1", "input", e => [e.orig.src, e.orig.dst, e.reply.src, e.reply.dst].includes("198.51.100.2")],
    ];
    for (const [sel, value, kind, pred] of cases) {
        await settle(page, async () => {
            if (kind === "select") await page.selectOption(sel, value);
            else { await page.fill(sel, value); await page.click("#apply"); }
        });
        const want = ids(conntrack().filter(pred));
        const got = await shownIds(page);
        ok(want.length > 0 && JSON.stringify(got) === JSON.stringify(want), `filter ${sel.slice(3)}=${value} shows exactly the matching ${want.length}`, `got ${got}\nwant ${want}`);
        await settle(page, () => page.click("#clear"));
    }
    await settle(page, () => page.selectOption("#f-protocol", "tcp"));
    await settle(page, () => page.selectOption("#f-state", "ESTABLISHED"));
    const est = ids(conntrack("-p", "tcp", "--state", "ESTABLISHED"));
    ok(JSON.stringify(await shownIds(page)) === JSON.stringify(est), `protocol tcp + state ESTABLISHED: ${est.length}, as conntrack -L -p tcp --state ESTABLISHED`);
    ok(new URL(page.url()).hash === "#/?protocol=tcp&state=ESTABLISHED", "the URL holds the filters, named as the service's keys",
       page.url());
    await settle(page, () => page.click("#clear"));

    // The URL holds the view: a link opens it, Back and Forward move between views.
    const deep = await open(process.env.URL + "#/?protocol=udp&sort=dst&reverse=true");
    const udp = ids(conntrack().filter(e => e.proto === "udp"));
    const dsts = await deep.$$eval("#rows tr[data-id] td:nth-child(4)", tds => tds.map(t => t.textContent.split(" → ")[1]));
    const dstKeys = dsts.map(d => addrKey(bareAddress(d)));
    ok(await deep.inputValue("#f-protocol") === "udp" && JSON.stringify(await shownIds(deep)) === JSON.stringify(udp) &&
       await deep.getAttribute("button[data-sort=dst]", "aria-sort") === "descending" &&
       JSON.stringify(dstKeys) === JSON.stringify([...dstKeys].sort().reverse()),
       `a link to #/?protocol=udp&sort=dst&reverse=true shows the ${udp.length} UDP connections, by destination, descending`,
       dsts.join(" "));
    await settle(deep, () => deep.selectOption("#f-protocol", "tcp"));
    const tcp = ids(conntrack().filter(e => e.proto === "tcp"));
    ok(new URL(deep.url()).hash === "#/?protocol=tcp&sort=dst&reverse=true" &&
       JSON.stringify(await shownIds(deep)) === JSON.stringify(tcp), "choosing TCP changes the URL and keeps the sort", deep.url());
    await settle(deep, () => deep.goBack());
    ok(await deep.inputValue("#f-protocol") === "udp" && JSON.stringify(await shownIds(deep)) === JSON.stringify(udp),
       "Back shows the UDP view again, form and table");
    await settle(deep, () => deep.goForward());
    ok(await deep.inputValue("#f-protocol") === "tcp" && JSON.stringify(await shownIds(deep)) === JSON.stringify(tcp),
       "Forward returns to TCP");
    await settle(deep, () => deep.goto(process.env.URL + "#/?port=http"));
    ok(/Port must be a number/.test(await deep.textContent("#alerts")) && (await allRows(deep)).length === 0 &&
       await deep.textContent("#counts") !== "Loading…",
       "a link with a port that is no number says so and lists nothing", await deep.textContent("#alerts"));
    await deep.close();

    // Details of a connection: every field, against conntrack -L; Delete from there.
    const sipEntry = conntrack().find(e => e.orig.src === "10.0.0.2" && e.orig.dport === "5060" && e.orig.bytes);
    await page.click(`tr[data-id="${sipEntry.id}"] td:nth-child(2)`);
    await page.waitForSelector("#details:not([hidden])", { timeout: 10000 }).catch(() => {});
    const field = k => page.textContent(`#details [data-field="${k}"]`);
    const ep = (a, p) => a.includes(":") ? `[${a}]:${p}` : `${a}:${p}`;
    const wantFields = {
        original: `${ep(sipEntry.orig.src, sipEntry.orig.sport)} → ${ep(sipEntry.orig.dst, sipEntry.orig.dport)}`,
        reply: `${ep(sipEntry.reply.src, sipEntry.reply.sport)} → ${ep(sipEntry.reply.dst, sipEntry.reply.dport)}`,
        nat: `as ${sipEntry.reply.dst}`,
        sent: `${sipEntry.orig.bytes} B in ${sipEntry.orig.packets} packet${sipEntry.orig.packets === "1" ? "" : "s"}`,
        received: `${sipEntry.reply.bytes} B in ${sipEntry.reply.packets} packet${sipEntry.reply.packets === "1" ? "" : "s"}`,
        protocol: "udp (IPv4)", zone: "0", id: String(sipEntry.id),
    };
    const shownFields = {};
    for (const k of Object.keys(wantFields))
        shownFields[k] = await field(k).catch(() => null);
    ok(await page.isVisible("#details") && JSON.stringify(shownFields) === JSON.stringify(wantFields),
       "clicking a row opens its details: both tuples, NAT and counters both ways as conntrack -L has them",
       JSON.stringify(shownFields) + "\n" + JSON.stringify(wantFields));
    const timeoutText = await field("timeout").catch(() => "");
    ok(/^\d+ (sec|min|hr|day)/.test(timeoutText) && await field("mark") === "0x0" && await field("helper") === "None" &&
       await field("labels") === "None", `and its timeout (${timeoutText}), mark, helper and labels`);
    await page.keyboard.press("Escape");
    ok(await page.isHidden("#details"), "Escape closes the details");
    // The start time, where the kernel records it (a sysctl of this namespace).
    sh("sysctl", ["-qw", "net.netfilter.nf_conntrack_timestamp=1"]);
    sh("conntrack", ["-I", "-p", "udp", "-s", "192.0.2.66", "-d", "192.0.2.67", "--sport", "6", "--dport", "7", "-t", "600", "--mark", "42"]);
    sh("sysctl", ["-qw", "net.netfilter.nf_conntrack_timestamp=0"]);
    await settle(page, () => page.click("#refresh"));
    const stamped = conntrack().find(e => e.orig.src === "192.0.2.66");
    await page.click(`tr[data-id="${stamped.id}"] td:nth-child(1)`);
    const started = await field("start").catch(() => "");
    const year = String(new Date().getFullYear());
    ok(started.includes(year) && /\d+ sec\)$/.test(started) && await field("mark") === "0x2a",
       `a connection with a start time shows it as a date, and its age (${started})`);
    await page.screenshot({ path: `${process.env.LOGDIR}/cockpit-details.png` });
    await page.keyboard.press("Escape");
    sh("conntrack", ["-D", "-s", "192.0.2.66"]);
    await settle(page, () => page.click("#refresh"));
    await page.focus(`tr[data-id="${sipEntry.id}"] .cd-open`);
    await page.keyboard.press("Enter");
    ok(await page.isVisible("#details") && await page.getAttribute("#details", "data-id") === String(sipEntry.id),
       "the keyboard opens them too (Enter on the connection)");
    const beforeDetails = conntrack();
    await settle(page, () => page.click("#details-delete"));
    ok(await page.isHidden("#details") && goneExactly(beforeDetails, conntrack(), [sipEntry.id]),
       "Delete in the details removes that connection and nothing else");

    // Paging and sorting, done by the service.
    sh(process.env.CTFILL, ["80", "--src", "10.77.0.0"]);
    await settle(page, () => page.click("#refresh"));
    const total = conntrackAll().length;
    const p1 = await allRows(page);
    ok(p1.length === 50, "a page holds 50 rows of the " + total);
    await settle(page, () => page.click("#next"));
    const p2 = await allRows(page);
    ok(p2.length === Math.min(50, total - 50) && !p2.some(i => p1.includes(i)), "the next page holds the next 50, none twice");
    ok((await page.textContent("#page-info")).startsWith("51–") && new URL(page.url()).hash === "#/?offset=50",
       "the pager says where we are, and so does the URL", page.url());
    await settle(page, () => page.goBack());
    ok((await page.textContent("#page-info")).startsWith("1–") && JSON.stringify(await allRows(page)) === JSON.stringify(p1),
       "Back returns to the first page");
    await settle(page, () => page.goForward());
    ok(JSON.stringify(await allRows(page)) === JSON.stringify(p2), "Forward to the same second page (the kept listing)");
    await settle(page, () => page.click("#prev"));
    await settle(page, () => page.click("button[data-sort=src]"));
    const srcs = await page.$$eval("#rows tr[data-id] td:nth-child(4)", tds => tds.map(t => t.textContent.split(" → ")[0]))
            .then(l => l.map(bareAddress));
    const sorted = [...srcs].sort((a, b) => addrKey(a) < addrKey(b) ? -1 : addrKey(a) > addrKey(b) ? 1 : 0);
    ok(srcs.length === 50 && JSON.stringify(srcs.map(addrKey)) === JSON.stringify(sorted.map(addrKey)),
       "sorting by source orders the page by address", srcs.join(" "));
    ok(await page.getAttribute("button[data-sort=src]", "aria-sort") === "ascending", "the sorted column says so");
    await settle(page, () => page.click("button[data-sort=src]"));
    sh("conntrack", ["-D", "-s", "10.77.0.0/16"]);
    await settle(page, () => page.click("#clear"));

    // Live mode: new connections show up without a reload.
    await page.check("#live");
    await page.waitForSelector("body[data-live=on]", { timeout: 30000 }).catch(() => {});
    const countBefore = Number(await page.evaluate(() => document.body.dataset.count));
    sh("conntrack", ["-I", "-p", "tcp", "-s", "192.0.2.99", "-d", "192.0.2.98", "--sport", "4242", "--dport", "4243", "--state", "ESTABLISHED", "-t", "600"]);
    const appeared = await page.waitForFunction(() => [...document.querySelectorAll("#rows td")].some(td => td.textContent.includes("192.0.2.99:4242")), null, { timeout: 30000 }).then(() => true, () => false);
    ok(appeared, "live mode shows a new connection without a reload");
    // The browser's own connections come and go too: the shown count must
    // catch up with the table's size, whatever it is now.
    let follows = false, shownCount = 0, actual = 0;
    for (const deadline = Date.now() + 30000; Date.now() < deadline && !follows;) {
        await page.waitForTimeout(250);
        shownCount = Number(await page.evaluate(() => document.body.dataset.count));
        actual = conntrackAll().length;
        follows = shownCount === actual && shownCount > countBefore - 3;
    }
    ok(follows, `and the count follows (${shownCount}, table ${actual})`);
    // Rates: a flow that moves shows its bytes per second, from one refresh to the next.
    const pinger = spawn("ping", ["-q", "-i", "0.2", "-s", "1000", "127.0.0.5"], { stdio: "ignore" });
    const rated = await page.waitForFunction(() => [...document.querySelectorAll("#rows tr")].some(tr =>
        tr.textContent.includes("127.0.0.5") && /[1-9][\d.,]* (B|KiB)\/s/.test(tr.querySelector("td.cd-rate")?.textContent || "")),
        null, { timeout: 30000 }).then(() => true, () => false);
    pinger.kill();
    ok(rated, "live mode shows the rate of a moving flow (ping of 1 KiB every 0.2 s)");
    // Live refreshes wait ten times what the last one took: on a bigger table
    // that changes all the time, a refresh every few seconds, not every second.
    sh(process.env.CTFILL, ["50000", "--src", "10.78.0.0", "--timeout", "600"]);
    await settle(page, () => page.click("#refresh"));
    const wait = Number(await page.evaluate(() => document.body.dataset.liveWait));
    const asked0 = Number(await page.evaluate(() => document.body.dataset.asked));
    let churned = 0;
    const churn = setInterval(() => {
        sh(process.env.CTFILL, ["5", "--src", "10.79.0.0", "--first", String(churned), "--timeout", "600"]);
        churned += 5;
    }, 300);
    // Long enough for two waits, whatever the machine's speed.
    const windowMs = Math.min(Math.max(8000, 2.5 * wait), 90000);
    let minWait = wait;
    for (const end = Date.now() + windowMs; Date.now() < end;) {
        await page.waitForTimeout(500);
        minWait = Math.min(minWait, Number(await page.evaluate(() => document.body.dataset.liveWait)));
    }
    clearInterval(churn);
    const refreshes = Number(await page.evaluate(() => document.body.dataset.asked)) - asked0;
    await page.waitForFunction(settled, 0, { timeout: 60000 }).catch(() => {});
    // The wait and its hint, as one render left them.
    const [waitNow, every] = await page.evaluate(() => [Number(document.body.dataset.liveWait),
        document.getElementById("live-every").hidden ? "" : document.getElementById("live-every").textContent]);
    // The hint shows when the wait is longer than the 3 s tick, in seconds.
    const hinted = waitNow > 3000 ? every.includes(String(Math.round(waitNow / 1000))) : every === "";
    ok(refreshes >= 1 && refreshes <= Math.ceil(windowMs / minWait) + 1 && hinted,
       `live refreshes wait 10× what one took: ${refreshes} in ${windowMs / 1000} s while the table changed ` +
       `every 0.3 s, "${every}" (waits ${wait} ms first, ${minWait} ms at least, ${waitNow} ms last)`);
    for (const net of ["10.78.0.0/16", "10.79.0.0/16"])
        execFileSync("conntrack", ["-D", "-s", net], { stdio: "ignore" });
    await page.uncheck("#live");
    await page.waitForSelector("body:not([data-live])");

    // Delete one row.
    const beforeDel = conntrack();
    const target = beforeDel.find(e => e.orig.src === "192.0.2.99");
    await settle(page, () => page.click(`tr[data-id="${target.id}"] .cd-delete`));
    ok(goneExactly(beforeDel, conntrack(), [target.id]), "Delete on a row removes that connection and nothing else");
    ok((await page.textContent("#alerts")).includes("Deleted"), "and says so");

    // Delete matching, with the count shown first.
    await settle(page, async () => { await page.fill("#f-port", "5060"); await page.click("#apply") });
    const beforeSip = conntrack();
    const sip = beforeSip.filter(e => [e.orig.sport, e.orig.dport, e.reply.sport, e.reply.dport].includes("5060"));
    ok((await page.textContent("#delete-matching")).includes(`(${sip.length})`), `"Delete matching" shows how many will go (${sip.length})`);
    await page.click("#delete-matching");
    ok((await page.textContent("#confirm-title")).includes(`Delete ${sip.length} matching`), "a confirmation names the number");
    await settle(page, () => page.click("#confirm-yes"));
    ok(goneExactly(beforeSip, conntrack(), sip.map(e => e.id)), "Delete matching removes exactly the matching connections");
    await settle(page, () => page.click("#clear"));

    // Flush behind a confirmation.
    const before = conntrack().length;
    await page.click("#flush");
    ok(await page.isVisible("#confirm"), "Delete all connections asks first");
    await page.keyboard.press("Escape");
    ok(conntrack().length === before && !(await page.isVisible("#confirm")), "cancelling (Escape) deletes nothing");
    await page.click("#flush");
    await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
    await settle(page, () => page.click("#confirm-yes"));
    const rest = conntrack();
    ok(rest.length === 0, "confirmed, the table is empty (but for the browser's own connection)",
       rest.map(e => e.line).join("\n"));

    // Keyboard: the controls are reachable with Tab.
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.tagName);
    ok(["SELECT", "INPUT", "BUTTON", "A", "SUMMARY"].includes(focused), `Tab reaches a control (${focused})`);
    await page.setViewportSize({ width: 420, height: 800 });
    const overflow = await page.evaluate(() => document.querySelector(".cd-toolbar").scrollWidth <= window.innerWidth);
    ok(overflow, "the toolbar fits a 420-pixel-wide window");
    await page.screenshot({ path: `${process.env.LOGDIR}/cockpit-narrow.png`, fullPage: true });

    // A user polkit denies.
    sh("conntrack", ["-I", "-p", "udp", "-s", "192.0.2.77", "-d", "192.0.2.78", "--sport", "1", "--dport", "2", "-t", "600"]);
    const denied = await open(process.env.URL_DENIED);
    ok((await denied.textContent("#alerts")).includes("not allowed"), "an unauthorized user sees a clear error");
    const deniedCounts = await denied.textContent("#counts");
    ok(!deniedCounts.includes("Loading") && /administrative access/.test(deniedCounts) &&
       await denied.evaluate(() => document.body.dataset.access) === "denied",
       `and the header says why nothing is shown, instead of "Loading…" (${deniedCounts})`);
    ok(await denied.isDisabled("#flush") && /administrative access/.test(await denied.getAttribute("#flush-why", "title") || "") &&
       await denied.isDisabled("#live"),
       "Delete all connections and Live updates are disabled, and the tooltip says what would allow them",
       await denied.getAttribute("#flush-why", "title"));
    await denied.click("#flush", { force: true });
    const after = conntrack();
    ok(after.length === 1 && after[0].orig.src === "192.0.2.77" && await denied.isHidden("#confirm"),
       "and clicking it anyway does nothing", after.map(e => e.line).join("\n"));

    const own = consoleErrors.filter(e => !/cockpit|websocket|favicon|superuser/i.test(e));
    ok(own.length === 0, "no console errors of the page's own", own.join("\n"));

    // Top talkers on a table of several thousand entries: the screenshot.
    const sizes = [1800, 1200, 900, 600, 400, 250, 150, 100, 60, 40, 20];
    sizes.forEach((n, i) => sh(process.env.CTFILL, [String(n), "--src", `10.90.${i}.1`, "--dport", String(8000 + i)]));
    const talkers = await open(process.env.URL);
    const big10 = await bars(talkers);
    const badBig = sizes.slice(0, 9).map((n, i) => [`10.90.${i}.1`, n]).filter(([k, n]) => !big10[k] || big10[k][0] !== n);
    ok(Object.keys(big10).length === 10 && badBig.length === 0,
       `on ${sizes.reduce((a, b) => a + b)} more entries the ten biggest sources are shown with their counts`,
       JSON.stringify(big10));
    await talkers.screenshot({ path: process.env.SCREENSHOT_TALKERS, fullPage: true });
    await talkers.close();

    // In Italian: the browser asks for it, the bridge serves the page's po.it.js as po.js.
    const itContext = await browser.newContext({ locale: "it-IT", viewport: { width: 1400, height: 900 } });
    const it = await itContext.newPage();
    it.on("pageerror", e => consoleErrors.push(String(e)));
    await it.goto(process.env.URL);
    await it.waitForFunction(settled, 0, { timeout: 120000 }).catch(() => {});
    const itTexts = {
        title: await it.title(), lang: await it.getAttribute("html", "lang"), h1: await it.textContent("h1"),
        apply: await it.textContent("#apply"), flush: await it.textContent("#flush"), next: await it.textContent("#next"),
        placeholder: await it.getAttribute("#f-address", "placeholder"), talkers: await it.textContent("#talkers-title"),
    };
    const itWant = { title: "Connessioni", lang: "it", h1: "Connessioni", apply: "Applica", flush: "Elimina tutte le connessioni",
                     next: "Successiva", placeholder: "indirizzo o prefisso", talkers: "Maggiori utilizzatori" };
    ok(JSON.stringify(itTexts) === JSON.stringify(itWant), "in Italian: the title, headings, buttons and placeholders are translated",
       JSON.stringify(itTexts));
    const itCount = Number(await it.evaluate(() => document.body.dataset.count));
    const itGrouped = new Intl.NumberFormat("it").format(itCount);
    const itInfo = await it.textContent("#page-info");
    ok(itCount > 999 && itGrouped !== itCount.toLocaleString("en") && (await it.textContent("#counts")) === `${itGrouped} connessioni` &&
       itInfo === `1–50 di ${itGrouped}`, `and numbers are written the Italian way (${itInfo})`, await it.textContent("#counts"));
    const itBytes = await it.$$eval(".cd-talker-nums", l => l.map(x => x.textContent));
    ok(itBytes.length > 0 && itBytes.every(t => /^[\d.]+ connession[ei] · [\d,]+ (B|KiB|MiB)$/.test(t)),
       "Top talkers counts connections and bytes in Italian", itBytes.join(" | "));
    await it.screenshot({ path: `${process.env.LOGDIR}/cockpit-italian.png`, fullPage: true });
    await itContext.close();

    // The shell's light or dark choice: localStorage "shell:style", followed live.
    const themeContext = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const dark = await themeContext.newPage();
    await dark.addInitScript(() => { if (!localStorage.getItem("shell:style")) localStorage.setItem("shell:style", "dark") });
    await dark.goto(process.env.URL);
    await dark.waitForFunction(settled, 0, { timeout: 120000 }).catch(() => {});
    /* Relative luminance of the page's background, 0 (black) to 1 (white). */
    const luminance = p => p.evaluate(() => {
        const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+(\.\d+)?/g).map(Number);
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    });
    const darkLum = await luminance(dark);
    ok(await dark.evaluate(() => document.documentElement.classList.contains("pf-v6-theme-dark")) && darkLum < 0.25,
       `with the shell's style "dark" the page is dark (background luminance ${darkLum.toFixed(2)})`);
    await dark.screenshot({ path: `${process.env.LOGDIR}/cockpit-dark.png`, fullPage: true });
    const shellLike = await themeContext.newPage();   // stands for the shell: same origin, its own window
    await shellLike.goto(process.env.URL);
    await shellLike.evaluate(() => localStorage.setItem("shell:style", "light"));
    await dark.waitForFunction(() => !document.documentElement.classList.contains("pf-v6-theme-dark"), null, { timeout: 10000 }).catch(() => {});
    const lightLum = await luminance(dark);
    ok(lightLum > 0.75, `choosing "light" in another window turns the open page light without a reload (${lightLum.toFixed(2)})`);
    await dark.emulateMedia({ colorScheme: "dark" });
    await shellLike.evaluate(() => localStorage.setItem("shell:style", "auto"));
    await dark.waitForFunction(() => document.documentElement.classList.contains("pf-v6-theme-dark"), null, { timeout: 10000 }).catch(() => {});
    ok(await luminance(dark) < 0.25, `"auto" follows the system's dark scheme`);
    await dark.emulateMedia({ colorScheme: "light" });
    await dark.waitForFunction(() => !document.documentElement.classList.contains("pf-v6-theme-dark"), null, { timeout: 10000 }).catch(() => {});
    ok(await luminance(dark) > 0.75, "and its light one, as it changes");
    await themeContext.close();

    // The first page of a 200,000-entry table.
    sh(process.env.CTFILL, ["200000", "--src", "10.80.0.0"]);
    // The table shows before Top talkers has counted the whole table.
    const t0 = Date.now();
    const big = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await big.goto(process.env.URL);
    await big.waitForFunction(() => document.querySelectorAll("#rows tr[data-id]").length === 50, null,
                              { timeout: 120000 }).catch(() => {});
    const took = (Date.now() - t0) / 1000;
    await big.waitForFunction(settled, 0, { timeout: 120000 }).catch(() => {});
    const tookAll = (Date.now() - t0) / 1000;
    const shown = (await shownIds(big)).length;
    const bigBars = await bars(big);
    ok(shown === 50 && Object.keys(bigBars).length === 10,
       `the first page of a 200,000-entry table shows in ${took.toFixed(2)} s, Top talkers in ${tookAll.toFixed(2)} s`);
    console.log(`# first page of 200,000 entries: ${took.toFixed(2)} s; with Top talkers: ${tookAll.toFixed(2)} s`);
} catch (e) {
    ok(false, "the browser script ran to the end", e.stack);
} finally {
    await browser.close();
}
done();
