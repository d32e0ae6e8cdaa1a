// What the browser scripts share: TAP output and Debian's chromium.
import { chromium } from "playwright-core";

let n = 0, failed = 0;

/* One TAP line; on failure the first lines of diag as comments. */
export function ok(cond, desc, diag) {
    n++;
    if (!cond) failed++;
    console.log(`${cond ? "ok" : "not ok"} ${n} - ${desc}`);
    if (!cond && diag !== undefined)
        for (const l of String(diag).split("\n").slice(0, 20)) console.log("# " + l);
}

/* The plan line, and the exit status the runner reads. */
export function done() {
    console.log(`1..${n}`);
    process.exit(failed ? 1 : 0);
}

export function launch() {
    return chromium.launch({
        executablePath: "/usr/bin/chromium",
        args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
    });
}
