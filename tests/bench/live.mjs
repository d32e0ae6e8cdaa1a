// The bench's Cockpit page in live mode: opens URL, turns Live updates on,
// prints "live" once subscribed, keeps the page open SECONDS seconds, then
// prints the refreshes it made and the wait it last chose (milliseconds).
import { launch } from "../browser/tap.mjs";

const seconds = Number(process.env.SECONDS_OPEN || 60);
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
await page.goto(process.env.URL);
await page.waitForFunction(() => document.body.dataset.ready !== undefined &&
    document.body.dataset.ready === document.body.dataset.asked, null, { timeout: 300000 });
await page.check("#live");
await page.waitForSelector("body[data-live=on]", { timeout: 60000 });
const asked0 = await page.evaluate(() => Number(document.body.dataset.asked));
console.log("live");
await page.waitForTimeout(seconds * 1000);
const [asked, wait] = await page.evaluate(() => [Number(document.body.dataset.asked), Number(document.body.dataset.liveWait)]);
console.log(`refreshes ${asked - asked0} wait ${wait}`);
await browser.close();
