/* The Connections page: everything heavy (filtering, sorting, paging,
 * deleting) happens in connectionsd; this page shows one page at a time. */
"use strict";

const PATH = "/org/example/Connections";
const IFACE = "org.example.Connections";
const client = cockpit.dbus("org.example.Connections", { bus: "system", superuser: "try" });
const $ = id => document.getElementById(id);

const state = {
    sort: null, reverse: false, offset: 0, limit: 50, total: 0, filter: {}, live: false, busy: false,
    talkersBy: "src",
    fresh: true,  // false only for Next and Previous: they read the listing the service keeps
    pinned: {},   // filter key -> { value: variant, label }: chosen in Top talkers
};
/* Counters of the rows last shown, for the rates in live mode: key -> { out, in, at }. */
let lastCounters = new Map();
let liveTimer = null, liveSub = null, liveTick = null, pendingRefresh = false;
/* Counters move without change signals: live mode also refreshes this often,
 * while the page is visible, so that rates stay current. */
const LIVE_TICK_MS = 3000;

const FILTERS = [
    ["protocol", "f-protocol", "s"], ["state", "f-state", "s"], ["status", "f-status", "as"],
    ["address", "f-address", "s"], ["port", "f-port", "q"], ["nat-address", "f-nat-address", "s"],
    ["interface", "f-interface", "s"],
];

/* Human words for the service's errors. */
function explain(err) {
    const name = err.name || "";
    if (name.endsWith("AccessDenied"))
        return "You are not allowed to do this. Turn on administrative access, or ask an administrator.";
    if (name.endsWith("InteractiveAuthorizationRequired"))
        return "This needs administrative access: turn it on at the top of the page and try again.";
    if (name.endsWith("LimitsExceeded"))
        return "The service is busy with other requests; try again in a moment.";
    if (name.endsWith("NotFound"))
        return "That connection no longer exists.";
    if (name.endsWith("ServiceUnknown") || name.endsWith("NameHasNoOwner"))
        return "The connections service is not available.";
    return err.message || String(err);
}

function showAlert(kind, text) {
    const div = document.createElement("div");
    div.className = "pf-v6-c-alert pf-m-inline pf-m-" + kind;
    div.setAttribute("role", kind === "danger" ? "alert" : "status");
    const title = document.createElement("p");
    title.className = "pf-v6-c-alert__title";
    title.textContent = text;
    div.appendChild(title);
    const close = document.createElement("button");
    close.className = "pf-v6-c-button pf-m-plain";
    close.type = "button";
    close.textContent = "Dismiss";
    close.addEventListener("click", () => div.remove());
    div.appendChild(close);
    $("alerts").replaceChildren(div);
}

function readFilter() {
    const f = {};
    for (const [key, pin] of Object.entries(state.pinned))
        f[key] = pin.value;
    for (const [key, id, type] of FILTERS) {
        const v = $(id).value.trim();
        if (!v)
            continue;
        if (type === "q") {
            const n = Number(v);
            if (!Number.isInteger(n) || n < 0 || n > 65535)
                throw new Error("Port must be a number from 0 to 65535");
            f[key] = cockpit.variant("q", n);
        } else if (type === "as") {
            f[key] = cockpit.variant("as", [v]);
        } else {
            f[key] = cockpit.variant("s", v);
        }
    }
    return f;
}

function endpoint(addr, port) {
    if (!port)
        return addr;
    return addr.includes(":") ? `[${addr}]:${port}` : `${addr}:${port}`;
}

function bytes(n) {
    if (n < 1024)
        return n + " B";
    const units = ["KiB", "MiB", "GiB", "TiB"];
    let u = -1;
    do { n /= 1024; u++; } while (n >= 1024 && u < units.length - 1);
    return n.toFixed(1) + " " + units[u];
}

function age(startUsec) {
    if (!startUsec)
        return "—";
    const s = Math.max(0, Math.round(Date.now() / 1000 - Number(startUsec) / 1e6));
    if (s < 120)
        return s + " s";
    if (s < 7200)
        return Math.round(s / 60) + " min";
    return Math.round(s / 3600) + " h";
}

function cell(text, label) {
    const td = document.createElement("td");
    td.textContent = text;
    if (label)
        td.dataset.label = label;
    return td;
}

function row(r) {
    const [id, family, protocol, connState, status, src, dst, sport, dport, rsrc, rdst, rsport, rdport,
        timeout, mark, zone, packets, bytesOut, rpackets, bytesIn, start, extra] = r;
    const tr = document.createElement("tr");
    tr.dataset.id = String(id);
    tr.dataset.protocol = protocol;
    tr.dataset.ports = `${sport},${dport}`;
    tr.appendChild(cell(protocol + (family === "ipv6" ? " (v6)" : ""), "Protocol"));
    tr.appendChild(cell(connState || "—", "State"));
    const flags = cell(status.filter(s => ["ASSURED", "UNREPLIED", "SRC_NAT", "DST_NAT"].includes(s)).join(" "), "Status");
    flags.className = "cd-flags";
    tr.appendChild(flags);
    tr.appendChild(cell(endpoint(src, sport) + " → " + endpoint(dst, dport), "Connection"));
    const nat = [];
    if (status.includes("DST_NAT"))
        nat.push("to " + endpoint(rsrc, rsport));
    if (status.includes("SRC_NAT"))
        nat.push("as " + rdst);
    tr.appendChild(cell(nat.join(", ") || "—", "NAT"));
    tr.appendChild(cell(bytes(Number(bytesOut)) + " / " + bytes(Number(bytesIn)), "Bytes"));
    tr.appendChild(cell(Number(packets) + " / " + Number(rpackets), "Packets"));
    const rate = cell(rateText(r), "Rate");
    rate.className = "cd-rate";
    rate.hidden = !state.live;
    tr.appendChild(rate);
    tr.appendChild(cell(age(start), "Age"));
    tr.appendChild(cell(timeout + " s", "Timeout"));
    tr.appendChild(cell(mark ? "0x" + mark.toString(16) : "—", "Mark"));
    const act = document.createElement("td");
    const del = document.createElement("button");
    del.type = "button";
    del.className = "pf-v6-c-button pf-m-link pf-m-danger cd-delete";
    del.textContent = "Delete";
    del.setAttribute("aria-label", `Delete ${protocol} ${endpoint(src, sport)} → ${endpoint(dst, dport)}`);
    del.addEventListener("click", () => deleteOne({ id, family, protocol, src, dst, sport, dport, zone, extra }));
    act.appendChild(del);
    tr.appendChild(act);
    return tr;
}

/* Bytes per second each way since this entry was last shown; "—" the first time. */
function rowKey(r) {
    return [r[0], r[5], r[7], r[6], r[8]].join(" ");
}

function rateText(r) {
    const prev = lastCounters.get(rowKey(r));
    const now = performance.now();
    if (!prev || now - prev.at < 100)
        return "—";
    const secs = (now - prev.at) / 1000;
    const out = Math.max(0, Number(r[17]) - prev.out) / secs;
    const back = Math.max(0, Number(r[19]) - prev.in) / secs;
    return bytes(Math.round(out)) + "/s / " + bytes(Math.round(back)) + "/s";
}

function rememberCounters(records) {
    const at = performance.now();
    lastCounters = new Map(records.map(r => [rowKey(r), { out: Number(r[17]), in: Number(r[19]), at }]));
}

function render(total, records) {
    state.total = total;
    $("rows").replaceChildren(...records.map(row));
    rememberCounters(records);
    for (const th of document.querySelectorAll("th.cd-rate"))
        th.hidden = !state.live;
    if (!records.length) {
        const tr = document.createElement("tr");
        const td = cell(total ? "No connections on this page." : "No connections match.");
        td.colSpan = 12;
        tr.appendChild(td);
        $("rows").appendChild(tr);
    }
    const first = total ? state.offset + 1 : 0;
    $("page-info").textContent = `${first}–${state.offset + records.length} of ${total}`;
    $("prev").disabled = state.offset === 0;
    $("next").disabled = state.offset + records.length >= total;
    const filtered = Object.keys(state.filter).length > 0;
    $("delete-matching").disabled = !filtered || total === 0;
    $("delete-matching").textContent = filtered ? `Delete matching (${total})` : "Delete matching";
    for (const b of document.querySelectorAll(".cd-sort")) {
        if (b.dataset.sort === state.sort)
            b.setAttribute("aria-sort", state.reverse ? "descending" : "ascending");
        else
            b.removeAttribute("aria-sort");
    }
}

/* What a click on a group filters by: the filter key and value for a group's key. */
const TALKER_FILTERS = {
    "src": key => ["src", cockpit.variant("s", key), `Source ${key}`],
    "dst": key => ["dst", cockpit.variant("s", key), `Destination ${key}`],
    "dport": key => ["dport", cockpit.variant("q", Number(key)), `Destination port ${key}`],
    "nat-address": key => key ? ["nat-address", cockpit.variant("s", key), `NAT address ${key}`]
                              : ["nat", cockpit.variant("s", "none"), "Not translated"],
};
const OTHER_KEYS = "(other keys)";

function talkerLabel(by, key) {
    if (key === OTHER_KEYS)
        return "Others";
    if (by === "nat-address" && key === "")
        return "Not translated";
    if (by === "dport" && key === "0")
        return "0 (no ports)";
    return key;
}

function renderTalkers(by, groups) {
    const max = Math.max(1, ...groups.map(g => g[1]));
    const items = groups.map(([key, conns, , nbytes]) => {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.className = "cd-talker";
        b.dataset.by = by;
        b.dataset.key = key;
        b.dataset.connections = String(conns);
        b.dataset.bytes = String(nbytes);
        b.disabled = key === OTHER_KEYS;
        const label = document.createElement("span");
        label.className = "cd-talker-key";
        label.textContent = talkerLabel(by, key);
        label.title = label.textContent;
        const bar = document.createElement("span");
        bar.className = "cd-bar";
        const fill = document.createElement("span");
        fill.style.width = (100 * conns / max).toFixed(1) + "%";
        bar.appendChild(fill);
        const nums = document.createElement("span");
        nums.className = "cd-talker-nums";
        nums.textContent = `${conns} ${conns === 1 ? "connection" : "connections"} · ${bytes(Number(nbytes))}`;
        b.append(label, bar, nums);
        b.setAttribute("aria-label", `${label.textContent}: ${nums.textContent}` +
                       (b.disabled ? "" : ". Show only these connections"));
        b.addEventListener("click", () => pinTalker(by, key));
        li.appendChild(b);
        return li;
    });
    if (!items.length) {
        const li = document.createElement("li");
        li.textContent = "No connections.";
        items.push(li);
    }
    $("talkers").replaceChildren(...items);
}

function renderPinned() {
    const chips = Object.entries(state.pinned).map(([key, pin]) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "pf-v6-c-button pf-m-secondary pf-m-small cd-pin";
        b.dataset.key = key;
        b.textContent = pin.label + " ✕";
        b.setAttribute("aria-label", `Remove the filter ${pin.label}`);
        b.addEventListener("click", () => { delete state.pinned[key]; applyFilters() });
        return b;
    });
    $("pinned").replaceChildren(...chips);
}

function pinTalker(by, key) {
    const [fkey, value, label] = TALKER_FILTERS[by](key);
    if (fkey === "nat-address") {
        $("f-nat-address").value = key;   // the form has this one
        delete state.pinned.nat;
    } else {
        if (fkey === "nat")
            $("f-nat-address").value = "";
        state.pinned[fkey] = { value, label };
    }
    applyFilters();
}

function updateCounts(total) {
    return client.call(PATH, "org.freedesktop.DBus.Properties", "Get", [IFACE, "Count"])
            .then(([v]) => {
                const all = v.v;
                $("counts").textContent = Object.keys(state.filter).length
                    ? `${total} matching of ${all} connections`
                    : `${all} connections`;
                document.body.dataset.count = String(all);
            })
            .catch(() => { $("counts").textContent = `${total} matching`; });
}

/* Every change of the view asks for a refresh (refresh()); at most one List
 * is in flight, and asks that come meanwhile fold into one more. The body's
 * data-asked counts the asks and data-ready names the last one the page
 * shows the answer to (or the error of): the page has settled when the two
 * are equal. Tests wait for that, and so can anything that scripts the page. */
let asked = 0;

function refresh() {
    asked++;
    document.body.dataset.asked = String(asked);
    if (state.busy) {
        pendingRefresh = true;
        return Promise.resolve();
    }
    return load();
}

function load() {
    state.busy = true;
    pendingRefresh = false;
    const seq = asked;
    let again = false;
    const opts = { offset: cockpit.variant("u", state.offset), limit: cockpit.variant("u", state.limit),
                   fresh: cockpit.variant("b", state.fresh) };
    state.fresh = true;
    if (state.sort) {
        opts.sort = cockpit.variant("s", state.sort);
        opts.reverse = cockpit.variant("b", state.reverse);
    }
    const by = state.talkersBy;
    // The table shows as soon as its page is here; the bars when theirs is
    // (asked second: the service reads the table for both at once).
    const table = client.call(PATH, IFACE, "List", [state.filter, opts])
            .then(([total, records]) => {
                // Keep the admin's place; only step back when the page emptied.
                if (!records.length && state.offset > 0 && total > 0) {
                    state.offset = Math.max(0, Math.floor((total - 1) / state.limit) * state.limit);
                    again = true;
                    return;
                }
                render(total, records);
                return updateCounts(total);
            });
    const talkers = client.call(PATH, IFACE, "Summarize", [state.filter, by, { limit: cockpit.variant("u", 10) }])
            .then(([, groups]) => groups);
    // Both answered (or failed) before the page counts as settled.
    return Promise.allSettled([table, talkers])
            .then(([t, g]) => {
                if (t.status === "rejected")
                    throw t.reason;
                if (g.status === "rejected")
                    throw g.reason;
                if (!again)
                    renderTalkers(by, g.value);
            })
            .catch(err => {
                $("counts").textContent = "";
                showAlert("danger", explain(err));
            })
            .finally(() => {
                state.busy = false;
                if (again || pendingRefresh)
                    load();
                else
                    document.body.dataset.ready = String(seq);
            });
}

function confirmDialog(title, body) {
    return new Promise(resolve => {
        $("confirm-title").textContent = title;
        $("confirm-body").textContent = body;
        $("confirm").hidden = false;
        $("confirm-no").focus();
        const done = answer => {
            $("confirm").hidden = true;
            $("confirm-yes").onclick = $("confirm-no").onclick = null;
            document.removeEventListener("keydown", onKey);
            resolve(answer);
        };
        const onKey = e => { if (e.key === "Escape") done(false); };
        document.addEventListener("keydown", onKey);
        $("confirm-yes").onclick = () => done(true);
        $("confirm-no").onclick = () => done(false);
    });
}

function deleteOne(c) {
    const spec = {
        protocol: cockpit.variant("s", c.protocol), src: cockpit.variant("s", c.src),
        dst: cockpit.variant("s", c.dst), zone: cockpit.variant("q", c.zone), id: cockpit.variant("u", Number(c.id)),
    };
    if (c.protocol === "icmp" || c.protocol === "icmpv6") {
        spec["icmp-type"] = cockpit.variant("y", c.extra["icmp-type"].v);
        spec["icmp-code"] = cockpit.variant("y", c.extra["icmp-code"].v);
        spec["icmp-id"] = cockpit.variant("q", c.extra["icmp-id"].v);
    } else if (["tcp", "udp", "udplite", "sctp", "dccp"].includes(c.protocol)) {
        spec.sport = cockpit.variant("q", c.sport);
        spec.dport = cockpit.variant("q", c.dport);
    } else {
        for (const k of ["protocol", "src", "dst", "zone"])
            delete spec[k];   // other protocols: by id alone
    }
    return client.call(PATH, IFACE, "Delete", [spec])
            .then(() => showAlert("success", `Deleted ${c.protocol} ${endpoint(c.src, c.sport)} → ${endpoint(c.dst, c.dport)}.`))
            .catch(err => showAlert("danger", explain(err)))
            .then(refresh);
}

function deleteMatching() {
    const n = state.total;
    return confirmDialog(`Delete ${n} matching connections?`,
                         "Every connection that matches the current filter will be dropped. " +
                         "Flows that are still in use will start over.")
            .then(yes => yes && client.call(PATH, IFACE, "DeleteMatching", [state.filter])
                    .then(([deleted]) => showAlert("success", `Deleted ${deleted} connections.`))
                    .catch(err => showAlert("danger", explain(err)))
                    .then(refresh));
}

function flush() {
    return confirmDialog("Delete all connections?",
                         "The whole connection tracking table will be emptied: every connection through " +
                         "and to this machine starts over, and NAT mappings are made anew.")
            .then(yes => yes && client.call(PATH, IFACE, "Flush", [])
                    .then(([deleted]) => showAlert("success", `Deleted all ${deleted} connections.`))
                    .catch(err => showAlert("danger", explain(err)))
                    .then(refresh));
}

/* Live mode: the service's coalesced signal, throttled to one refresh a second. */
function setLive(on) {
    state.live = on;
    window.clearInterval(liveTick);
    liveTick = null;
    if (on) {
        liveTick = window.setInterval(() => { if (!document.hidden && !liveTimer) refresh() }, LIVE_TICK_MS);
        liveSub = client.subscribe({ path: PATH, interface: IFACE, member: "ConnectionsChanged" }, () => {
            if (!liveTimer)
                liveTimer = window.setTimeout(() => { liveTimer = null; refresh() }, 1000);
        });
        client.call(PATH, IFACE, "Subscribe", [])
                .then(() => { document.body.dataset.live = "on" })
                .catch(err => {
                    showAlert("danger", explain(err));
                    $("live").checked = false;
                    setLive(false);
                });
    } else {
        if (liveSub)
            liveSub.remove();
        liveSub = null;
        delete document.body.dataset.live;
        client.call(PATH, IFACE, "Unsubscribe", []).catch(() => {});
    }
}

function applyFilters(event) {
    if (event)
        event.preventDefault();
    renderPinned();
    try {
        state.filter = readFilter();
    } catch (e) {
        showAlert("danger", e.message);
        return;
    }
    state.offset = 0;
    $("alerts").replaceChildren();
    refresh();
}

document.addEventListener("DOMContentLoaded", () => {
    $("filters").addEventListener("submit", applyFilters);
    for (const [, id] of FILTERS)
        if ($(id).tagName === "SELECT")
            $(id).addEventListener("change", applyFilters);
    $("clear").addEventListener("click", () => { $("filters").reset(); state.pinned = {}; applyFilters() });
    $("talkers-by").addEventListener("change", e => { state.talkersBy = e.target.value; refresh() });
    $("refresh").addEventListener("click", () => refresh());
    $("live").addEventListener("change", e => setLive(e.target.checked));
    $("delete-matching").addEventListener("click", deleteMatching);
    $("flush").addEventListener("click", flush);
    // Paging stays within one listing (the service keeps it): no new dump,
    // each connection once. Everything else lists anew.
    $("prev").addEventListener("click", () => {
        state.offset = Math.max(0, state.offset - state.limit);
        state.fresh = false;
        refresh();
    });
    $("next").addEventListener("click", () => { state.offset += state.limit; state.fresh = false; refresh() });
    $("page-size").addEventListener("change", e => { state.limit = Number(e.target.value); state.offset = 0; refresh() });
    for (const b of document.querySelectorAll(".cd-sort"))
        b.addEventListener("click", () => {
            if (state.sort === b.dataset.sort)
                state.reverse = !state.reverse;
            else {
                state.sort = b.dataset.sort;
                state.reverse = ["bytes", "packets", "start"].includes(state.sort);
            }
            state.offset = 0;
            refresh();
        });
    refresh();
});
