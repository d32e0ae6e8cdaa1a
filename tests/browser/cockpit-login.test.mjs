// Cockpit for real, inside the system tier's container (tests/system): a
// user with a password logs in through Cockpit's login page, opens
// Connections, sees what limited access allows, turns administrative access
// on, then lists, deletes and flushes. Prints TAP; conntrack -L (in the same
// container) is the referee. Environment: URL (cockpit.socket's), LOGIN,
// PASSWORD, SCREENSHOT.
import { ok, done, launch } from "./tap.mjs";
import { execFileSync } from "node:child_process";

const conntrackIds = () => {
    let out = "";
    try {
        out = execFileSync("conntrack", ["-L", "-o", "id"], { stdio: ["ignore", "pipe", "ignore"] }).toString();
    } catch (e) {
        out = e.stdout ? e.stdout.toString() : "";
    }
    // Cockpit's own connections on loopback come and go: only the test's entries count.
    return out.split("\n").filter(l => l.includes("src=192.0.2.")).map(l => l.match(/id=(\d+)/)[1]).sort();
};

const browser = await launch();
/* The page inside Cockpit's shell: an iframe per package. */
const frameOf = page => page.frameLocator('iframe[name="cockpit1:localhost/connections"]');
/* The Connections page has settled: it shows the answer to its last refresh (connections.js). */
async function settled(frame) {
    await frame.locator("body[data-ready]").waitFor({ timeout: 60000 });
    const h = await frame.locator("body").elementHandle();
    await h.waitForFunction(b => b.dataset.ready === b.dataset.asked, null, { timeout: 60000 });
}
const shownIds = frame => frame.locator("#rows tr[data-id]").evaluateAll(trs =>
    trs.filter(t => t.textContent.includes("192.0.2.")).map(t => t.dataset.id).sort());

try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(process.env.URL);
    await page.fill("#login-user-input", process.env.LOGIN);
    await page.fill("#login-password-input", process.env.PASSWORD);
    await page.click("#login-button");
    const shell = await page.waitForSelector("#super-user-indicator", { timeout: 60000 }).then(() => true, () => false);
    ok(shell, `${process.env.LOGIN} logs in through Cockpit's login page`);

    await page.goto(process.env.URL + "/connections");
    const frame = frameOf(page);
    await settled(frame).catch(() => {});
    const alerts = await frame.locator("#alerts").textContent({ timeout: 30000 }).catch(() => "");
    ok(/administrative access/i.test(alerts), "with limited access the page says that administrative access is needed", alerts);
    const counts = await frame.locator("#counts").textContent().catch(() => "");
    ok(counts && !counts.includes("Loading"), `and its header says so too, not "Loading…" (${counts})`);
    const limitedFlush = await frame.locator("#flush").isDisabled().catch(() => false);
    const why = await frame.locator("#flush-why").getAttribute("title").catch(() => "");
    ok(limitedFlush && /administrative access/.test(why || ""), "Delete all connections is disabled, its tooltip says why", why);
    await page.screenshot({ path: process.env.SCREENSHOT.replace(/\.png$/, "-limited.png") }).catch(() => {});
    /* The page follows administrative access by itself: no reload in between. */
    const access = () => frame.locator("body").getAttribute("data-access").catch(() => null);
    const waitAccess = async want => {
        for (const deadline = Date.now() + 60000; Date.now() < deadline; await page.waitForTimeout(200))
            if (await access() === want)
                break;
        await settled(frame).catch(() => {});
        return access();
    };
    await frame.locator("body").evaluate(b => { b.dataset.marker = "same document" });

    await page.click("#super-user-indicator button");
    await page.fill("input[type=password]", process.env.PASSWORD);
    await page.click("button:has-text('Authenticate')");
    const admin = await page.waitForSelector("#super-user-indicator :text('Administrative access')", { timeout: 60000 })
            .then(() => true, () => false);
    ok(admin, "the user turns administrative access on (sudo)");

    const nowAccess = await waitAccess("change");
    const want = conntrackIds();
    const got = await shownIds(frame);
    ok(nowAccess === "change" && await frame.locator("body").getAttribute("data-marker") === "same document" &&
       want.length > 0 && JSON.stringify(got) === JSON.stringify(want),
       `without a reload the page then lists exactly conntrack -L's ${want.length} test entries`, `${nowAccess}\ngot ${got}\nwant ${want}`);
    ok(!(await frame.locator("#flush").isDisabled()), "and Delete all connections is enabled");

    const target = want[0];
    const asked = Number(await frame.locator("body").getAttribute("data-asked"));
    await frame.locator(`tr[data-id="${target}"] .cd-delete`).click();
    await frame.locator("body").elementHandle().then(h => h.waitForFunction(
        (b, a) => Number(b.dataset.asked) > a && b.dataset.ready === b.dataset.asked, asked, { timeout: 60000 })).catch(() => {});
    const after = conntrackIds();
    ok(!after.includes(target) && after.length === want.length - 1, "Delete on a row removes that connection and nothing else");

    await frame.locator("#flush").click();
    await frame.locator("#confirm-yes").click();
    let left = conntrackIds();
    for (const deadline = Date.now() + 30000; left.length && Date.now() < deadline; left = conntrackIds())
        await page.waitForTimeout(200);
    ok(left.length === 0, "Delete all connections empties the table", left.join(" "));
    await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true }).catch(() => {});

    // Administrative access off again: the page goes back to what limited access allows.
    await page.click("#super-user-indicator button");
    await page.click("button:has-text('Limit access')");
    const limited = await page.waitForSelector("#super-user-indicator :text('Limited access')", { timeout: 60000 })
            .then(() => true, () => false);
    const backAccess = await waitAccess("denied");
    ok(limited && backAccess === "denied" && await frame.locator("#flush").isDisabled() &&
       await frame.locator("body").getAttribute("data-marker") === "same document",
       "turning administrative access off disables the changes again, without a reload", backAccess);

    // The shell's style switch (Session menu): the open page follows it.
    const isDark = () => frame.locator("html").evaluate(h => h.classList.contains("pf-v6-theme-dark") &&
        /rgb\((\d+)/.exec(getComputedStyle(document.body).backgroundColor)[1] < 80).catch(() => null);
    const waitDark = async want => {
        for (const deadline = Date.now() + 60000; Date.now() < deadline; await page.waitForTimeout(100))
            if (await isDark() === want)
                return true;
        return false;
    };
    await page.click("#toggle-menu");
    await page.click("button#dark");
    const wentDark = await waitDark(true);
    await page.keyboard.press("Escape");
    await page.screenshot({ path: process.env.SCREENSHOT.replace(/\.png$/, "-dark.png") }).catch(() => {});
    await page.click("#toggle-menu");
    await page.click("button#light");
    const wentLight = await waitDark(false);
    await page.keyboard.press("Escape");
    ok(wentDark && wentLight, "choosing Dark, then Light, in Cockpit's Session menu turns the open page dark, then light");
} catch (e) {
    ok(false, "the login script ran to the end", e.stack);
} finally {
    await browser.close();
}
done();
