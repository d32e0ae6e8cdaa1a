/* The Connections page: everything heavy (filtering, sorting, paging,
 * deleting) happens in connectionsd; this page shows one page at a time.
 * The URL holds the view (filters, sort, page), every string goes through
 * cockpit.gettext, and what the user may do follows Cockpit's administrative
 * access and the service's answers. */
"use strict";

const _ = cockpit.gettext;
const NAME = "org.example.Connections";
const PATH = "/org/example/Connections";
const IFACE = "org.example.Connections";
const $ = id => document.getElementById(id);

/* Made anew when administrative access changes: a channel keeps the
 * privileges it was opened with. */
let client = null;

/* What the table shows; the URL holds it (see viewFromLocation). filter maps
 * the service's filter keys to their text as the URL has them. */
const DEFAULT_LIMIT = 50;
let view = { filter: {}, sort: null, reverse: false, limit: DEFAULT_LIMIT, offset: 0 };

const state = {
    total: 0, live: false, busy: false, talkersBy: "src",
    reuse: false,   // the next List may read the listing the service keeps (only the page changed)
};

/* What the user may do: Cockpit's administrative access (null while not yet
 * known), whether the session is root's own, and the service's last answer to List. */
const access = { admin: null, root: false, listDenied: false };

/* Counters of the rows last shown, for the rates in live mode: key -> { out, in, at }. */
let lastCounters = new Map();
let liveTimer = null, liveSub = null, liveTick = null, pendingRefresh = false;
/* Counters move without change signals: live mode also refreshes this often,
 * while the page is visible, so that rates stay current. */
const LIVE_TICK_MS = 3000;
/* A refresh reads the whole table at least once (Top talkers always, the
 * list too for sorted or filtered views): seconds of the service's time on a
 * big table. Live refreshes come no sooner than LIVE_COST times what the
 * last refresh took, so that live mode costs the service at most about a
 * tenth of a core, whatever the table's size; never more than one a second. */
const LIVE_COST = 10, LIVE_MIN_MS = 1000;
let lastLoad = { ended: 0, took: 0 };
const liveWait = () => Math.max(LIVE_MIN_MS, LIVE_COST * lastLoad.took);
/* Whether a live refresh may start now: none running, and the wait (at least atLeast ms) over. */
const liveDue = atLeast => !state.busy && performance.now() >= lastLoad.ended + Math.max(atLeast, liveWait());

/* The service's filter keys the page uses, with their D-Bus types. The form
 * has a field for the first seven; the others come from Top talkers. */
const FILTER_TYPES = {
    protocol: "s", state: "s", status: "as", address: "s", port: "q", "nat-address": "s", interface: "s",
    src: "s", dst: "s", dport: "q", nat: "s",
};
const FORM_FIELDS = [
    ["protocol", "f-protocol"], ["state", "f-state"], ["status", "f-status"], ["address", "f-address"],
    ["port", "f-port"], ["nat-address", "f-nat-address"], ["interface", "f-interface"],
];
const SORT_KEYS = ["protocol", "state", "src", "dst", "bytes", "packets", "start", "timeout"];
const MAX_LIMIT = 1000;

/* ---- Formatting for the user's language ---- */

const locale = () => (cockpit.language || "en").replace("_", "-");
const num = n => new Intl.NumberFormat(locale()).format(n);
/* In Cockpit's binary units, as cockpit.format_bytes(n, 1024) writes them,
 * but with the unit below 1 KiB too (which Cockpit 287 leaves out). */
function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let u = 0;
    for (; n >= 1024 && u < units.length - 1; u++)
        n /= 1024;
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: u ? 1 : 0 }).format(n) + " " + units[u];
}
const rate = n => bytes(n) + "/s";

/* A span of seconds in the largest unit that keeps it readable: "90 s", "12 min", "5 h", "3 d". */
function duration(secs) {
    const [unit, n] = secs < 120 ? ["second", secs]
        : secs < 7200 ? ["minute", Math.round(secs / 60)]
            : secs < 172800 ? ["hour", Math.round(secs / 3600)]
                : ["day", Math.round(secs / 86400)];
    return new Intl.NumberFormat(locale(), { style: "unit", unit, unitDisplay: "short" }).format(n);
}

function age(startUsec) {
    if (!startUsec)
        return "—";
    return duration(Math.max(0, Math.round(Date.now() / 1000 - Number(startUsec) / 1e6)));
}

function endpoint(addr, port) {
    if (!port)
        return addr;
    return addr.includes(":") ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/* ---- Messages ---- */

/* Human words for the service's errors. */
function explain(err) {
    const name = err.name || "";
    if (name.endsWith("AccessDenied"))
        return _("You are not allowed to do this. Turn on administrative access, or ask an administrator.");
    if (name.endsWith("InteractiveAuthorizationRequired"))
        return _("This needs administrative access: turn it on at the top of the page and try again.");
    if (name.endsWith("LimitsExceeded"))
        return _("The service is busy with other requests; try again in a moment.");
    if (name.endsWith("NotFound"))
        return _("That connection no longer exists.");
    if (name.endsWith("ServiceUnknown") || name.endsWith("NameHasNoOwner"))
        return _("The connections service is not available.");
    return err.message || String(err);
}

const denied = err => /(AccessDenied|InteractiveAuthorizationRequired)$/.test(err.name || "");

function showAlert(kind, text) {
    const div = document.createElement("div");
    div.className = "pf-v6-c-alert pf-m-inline pf-m-" + kind;
    div.setAttribute("role", kind === "danger" ? "alert" : "status");
    const title = document.createElement("p");
    title.className = "pf-v6-c-alert__title";
    title.textContent = text;
    div.appendChild(title);
    const action = document.createElement("div");
    action.className = "pf-v6-c-alert__action";
    const close = document.createElement("button");
    close.className = "pf-v6-c-button pf-m-plain";
    close.type = "button";
    close.textContent = "✕";
    close.setAttribute("aria-label", _("Dismiss"));
    close.addEventListener("click", () => div.remove());
    action.appendChild(close);
    div.appendChild(action);
    $("alerts").replaceChildren(div);
}

/* ---- The view and the URL ---- */

/* The view a URL names: #/?protocol=udp&port=5060&sort=bytes&reverse=true&limit=100&offset=200.
 * Filter options are named as the service's filter keys; what the page
 * cannot use is left out (the service judges the values). */
function viewFromLocation() {
    const o = cockpit.location.options;
    const first = v => Array.isArray(v) ? v[0] : v;
    const v = { filter: {}, sort: null, reverse: false, limit: DEFAULT_LIMIT, offset: 0 };
    for (const key of Object.keys(FILTER_TYPES)) {
        const value = FILTER_TYPES[key] === "as" ? [].concat(o[key] || []) : first(o[key]);
        if (value && value.length)
            v.filter[key] = value;
    }
    if (SORT_KEYS.includes(first(o.sort))) {
        v.sort = first(o.sort);
        v.reverse = ["true", "yes", "1"].includes(first(o.reverse));
    }
    const limit = Number(first(o.limit));
    if (Number.isInteger(limit) && limit > 0 && limit <= MAX_LIMIT)
        v.limit = limit;
    const offset = Number(first(o.offset));
    if (Number.isInteger(offset) && offset > 0)
        v.offset = offset;
    return v;
}

function locationOptions(v) {
    const o = { ...v.filter };
    if (v.sort) {
        o.sort = v.sort;
        if (v.reverse)
            o.reverse = "true";
    }
    if (v.limit !== DEFAULT_LIMIT)
        o.limit = String(v.limit);
    if (v.offset)
        o.offset = String(v.offset);
    return o;
}

const sameOptions = (a, b) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
const sameListing = (a, b) => sameOptions(a.filter, b.filter) && a.sort === b.sort && a.reverse === b.reverse;

/* Shows view v: through the URL, so that Back returns to the view before. */
function go(v) {
    const options = locationOptions(v);
    if (sameOptions(options, locationOptions(viewFromLocation())))
        show(v);
    else
        cockpit.location.go([], options);
}

/* The URL changed (a link, Back, Forward, or go()): show what it names. */
function show(v) {
    const reuse = sameListing(v, view) && v.offset !== view.offset;
    view = v;
    fillForm();
    renderPinned();
    if (client)
        refresh(reuse);
}

function fillForm() {
    for (const [key, id] of FORM_FIELDS) {
        const el = $(id);
        const value = [].concat(view.filter[key] || [""])[0];
        if (el.tagName === "SELECT" && ![...el.options].some(o => o.value === value)) {
            const opt = document.createElement("option");
            opt.textContent = value;   // from a link: shown as asked, judged by the service
            el.appendChild(opt);
        }
        el.value = value;
    }
    const size = $("page-size");
    if (![...size.options].some(o => Number(o.value) === view.limit)) {
        const opt = document.createElement("option");
        opt.textContent = String(view.limit);
        size.appendChild(opt);
    }
    size.value = String(view.limit);
}

/* The filter as the service takes it; throws an Error naming a value that cannot be one. */
function filterVariants(filter) {
    const f = {};
    for (const [key, value] of Object.entries(filter)) {
        const type = FILTER_TYPES[key];
        if (type === "q") {
            const n = Number(value);
            if (value === "" || !Number.isInteger(n) || n < 0 || n > 65535)
                throw new Error(cockpit.format(_("$0 must be a number from 0 to 65535, not “$1”."),
                                               key === "port" ? _("Port") : _("Destination port"), value));
            f[key] = cockpit.variant("q", n);
        } else {
            f[key] = cockpit.variant(type, value);
        }
    }
    return f;
}

/* The form's fields, with the filters from Top talkers kept. */
function filterFromForm() {
    const filter = {};
    for (const [key, value] of Object.entries(view.filter))
        if (!FORM_FIELDS.some(([k]) => k === key))
            filter[key] = value;
    for (const [key, id] of FORM_FIELDS) {
        const value = $(id).value.trim();
        if (value)
            filter[key] = FILTER_TYPES[key] === "as" ? [value] : value;
    }
    return filter;
}

function applyFilters(event) {
    if (event)
        event.preventDefault();
    const filter = filterFromForm();
    try {
        filterVariants(filter);
    } catch (e) {
        showAlert("danger", e.message);
        return;
    }
    $("alerts").replaceChildren();
    go({ ...view, filter, offset: 0 });
}

/* ---- What the user may do ---- */

/* Why deleting cannot work now, or null when it may. */
function changeBlocked() {
    if (access.admin === false && !access.root)
        return _("Deleting connections needs administrative access. Turn it on at the top of the page, or ask an administrator.");
    if (access.listDenied)
        return _("You are not allowed to change connections. Ask an administrator.");
    return null;
}

/* A control that cannot work is disabled, and its wrapper's tooltip says why
 * (a disabled button shows no tooltip of its own). */
function allow(button, why, otherwise) {
    const blocked = why || otherwise || null;
    button.disabled = !!blocked;
    const wrap = button.parentElement.classList.contains("cd-why") ? button.parentElement : button;
    if (blocked && blocked !== true)
        wrap.title = blocked;
    else
        wrap.removeAttribute("title");
}

function updateAccess() {
    const why = changeBlocked();
    const filtered = Object.keys(view.filter).length > 0;
    allow($("delete-matching"), why, !filtered ? _("Filter the table first: this deletes the connections that match.")
        : state.total === 0 ? true : null);
    allow($("flush"), why);
    allow($("details-delete"), why);
    for (const b of document.querySelectorAll("#rows .cd-delete"))
        allow(b, why);
    const liveWhy = access.listDenied ? _("You are not allowed to see connections.") : null;
    $("live").disabled = !!liveWhy && !state.live;
    $("live").parentElement.title = liveWhy || "";
    document.body.dataset.access = access.listDenied ? "denied" : why ? "read" : "change";
}

/* The bus client, opened with administrative access when the user has it on. */
function connect() {
    if (client) {
        if (state.live) {
            client.call(PATH, IFACE, "Unsubscribe", []).catch(() => {});
            liveSub.remove();
        }
        client.close();
    }
    client = cockpit.dbus(NAME, { bus: "system", superuser: "try" });
    client.admin = access.admin;
    if (state.live)
        subscribe();
}

/* Cockpit's administrative access, as its shell shows it: "init" while
 * unknown, "none" when off, the bridge's name (sudo, …) when on. Turning it
 * on or off reconnects and lists again: no reload needed. Calls ready() once
 * the first state is known (or known to be unknowable). */
function watchSuperuser(ready) {
    const superuser = cockpit.dbus(null, { bus: "internal" }).proxy("cockpit.Superuser", "/superuser");
    const changed = () => {
        const admin = !superuser.valid || superuser.Current === undefined || superuser.Current === "init"
            ? null : superuser.Current !== "none";
        if (admin === access.admin)
            return;
        access.admin = admin;
        if (client && admin !== null && client.admin !== admin) {
            connect();
            refresh();
        }
        updateAccess();
    };
    superuser.addEventListener("changed", changed);
    superuser.wait(() => {
        changed();
        ready();
    });
    cockpit.user().then(user => {
        access.root = user.id === 0;
        updateAccess();
    });
}

/* ---- The table ---- */

function cell(text, label) {
    const td = document.createElement("td");
    td.textContent = text;
    if (label)
        td.dataset.label = label;
    return td;
}

function natText(status, rsrc, rsport, rdst) {
    const nat = [];
    if (status.includes("DST_NAT"))
        nat.push(cockpit.format(_("to $0"), endpoint(rsrc, rsport)));
    if (status.includes("SRC_NAT"))
        nat.push(cockpit.format(_("as $0"), rdst));
    return nat.join(", ");
}

function row(r) {
    const [id, family, protocol, connState, status, src, dst, sport, dport, rsrc, rdst, rsport, rdport,
        timeout, mark, zone, packets, bytesOut, rpackets, bytesIn, start, extra] = r;
    const tr = document.createElement("tr");
    tr.dataset.id = String(id);
    tr.dataset.protocol = protocol;
    tr.dataset.ports = `${sport},${dport}`;
    tr.className = "cd-row";
    tr.appendChild(cell(protocol + (family === "ipv6" ? " (v6)" : ""), _("Protocol")));
    tr.appendChild(cell(connState || "—", _("State")));
    const flags = cell(status.filter(s => ["ASSURED", "UNREPLIED", "SRC_NAT", "DST_NAT"].includes(s)).join(" "), _("Status"));
    flags.className = "cd-flags";
    tr.appendChild(flags);
    // The connection opens its details; a button, so that the keyboard reaches it.
    const conn = cell("", _("Connection"));
    const open = document.createElement("button");
    open.type = "button";
    open.className = "pf-v6-c-button pf-m-link pf-m-inline cd-open";
    open.textContent = endpoint(src, sport) + " → " + endpoint(dst, dport);
    open.setAttribute("aria-label", cockpit.format(_("Details of $0"), open.textContent));
    conn.appendChild(open);
    tr.appendChild(conn);
    tr.appendChild(cell(natText(status, rsrc, rsport, rdst) || "—", _("NAT")));
    tr.appendChild(cell(bytes(Number(bytesOut)) + " / " + bytes(Number(bytesIn)), _("Bytes")));
    tr.appendChild(cell(num(Number(packets)) + " / " + num(Number(rpackets)), _("Packets")));
    const rateCell = cell(rateText(r), _("Rate"));
    rateCell.className = "cd-rate";
    rateCell.hidden = !state.live;
    tr.appendChild(rateCell);
    tr.appendChild(cell(age(start), _("Age")));
    tr.appendChild(cell(duration(timeout), _("Timeout")));
    tr.appendChild(cell(mark ? "0x" + mark.toString(16) : "—", _("Mark")));
    const act = document.createElement("td");
    const del = document.createElement("button");
    del.type = "button";
    del.className = "pf-v6-c-button pf-m-link pf-m-danger cd-delete";
    del.textContent = _("Delete");
    del.setAttribute("aria-label", cockpit.format(_("Delete $0 $1 → $2"), protocol, endpoint(src, sport), endpoint(dst, dport)));
    del.addEventListener("click", event => {
        event.stopPropagation();
        deleteOne(r);
    });
    act.appendChild(del);
    tr.appendChild(act);
    tr.addEventListener("click", () => openDetails(r));
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
    return rate(Math.round(out)) + " / " + rate(Math.round(back));
}

function rememberCounters(records) {
    const at = performance.now();
    lastCounters = new Map(records.map(r => [rowKey(r), { out: Number(r[17]), in: Number(r[19]), at }]));
}

function emptyRow(text) {
    const tr = document.createElement("tr");
    const td = cell(text);
    td.colSpan = 12;
    tr.appendChild(td);
    return tr;
}

function render(total, records) {
    state.total = total;
    $("rows").replaceChildren(...records.map(row));
    rememberCounters(records);
    for (const th of document.querySelectorAll("th.cd-rate"))
        th.hidden = !state.live;
    if (!records.length)
        $("rows").appendChild(emptyRow(total ? _("No connections on this page.") : _("No connections match.")));
    const first = total ? view.offset + 1 : 0;
    $("page-info").textContent = cockpit.format(_("$0–$1 of $2"), num(first), num(view.offset + records.length), num(total));
    $("prev").disabled = view.offset === 0;
    $("next").disabled = view.offset + records.length >= total;
    const filtered = Object.keys(view.filter).length > 0;
    $("delete-matching").textContent = filtered ? cockpit.format(_("Delete matching ($0)"), num(total)) : _("Delete matching");
    renderSort();
    updateAccess();
}

/* Nothing to show: the service refused or is away. The header says so too. */
function renderNothing(err) {
    state.total = 0;
    $("rows").replaceChildren(emptyRow(explain(err)));
    $("talkers").replaceChildren();
    $("page-info").textContent = "";
    $("prev").disabled = $("next").disabled = true;
    $("counts").textContent = denied(err)
        ? (access.admin === false && !access.root ? _("Hidden: administrative access is needed") : _("Hidden: not allowed"))
        : _("Not available");
    updateAccess();
}

function renderSort() {
    for (const b of document.querySelectorAll(".cd-sort")) {
        if (b.dataset.sort === view.sort)
            b.setAttribute("aria-sort", view.reverse ? "descending" : "ascending");
        else
            b.removeAttribute("aria-sort");
    }
}

/* ---- Top talkers ---- */

/* What a click on a group filters by: the filter key and its value for a group's key. */
const TALKER_FILTERS = {
    "src": key => ["src", key],
    "dst": key => ["dst", key],
    "dport": key => ["dport", key],
    "nat-address": key => key ? ["nat-address", key] : ["nat", "none"],
};
const OTHER_KEYS = "(other keys)";

/* The chip of a filter from Top talkers. */
function pinLabel(key, value) {
    switch (key) {
    case "src": return cockpit.format(_("Source $0"), value);
    case "dst": return cockpit.format(_("Destination $0"), value);
    case "dport": return cockpit.format(_("Destination port $0"), value);
    case "nat": return value === "none" ? _("Not translated") : cockpit.format(_("NAT: $0"), value);
    default: return `${key}=${value}`;
    }
}

function talkerLabel(by, key) {
    if (key === OTHER_KEYS)
        return _("Others");
    if (by === "nat-address" && key === "")
        return _("Not translated");
    if (by === "dport" && key === "0")
        return _("0 (no ports)");
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
        nums.textContent = cockpit.format(cockpit.ngettext("$0 connection", "$0 connections", conns), num(conns)) +
            " · " + bytes(Number(nbytes));
        b.append(label, bar, nums);
        b.setAttribute("aria-label", b.disabled ? `${label.textContent}: ${nums.textContent}`
            : cockpit.format(_("$0: $1. Show only these connections"), label.textContent, nums.textContent));
        b.addEventListener("click", () => pinTalker(by, key));
        li.appendChild(b);
        return li;
    });
    if (!items.length) {
        const li = document.createElement("li");
        li.textContent = _("No connections.");
        items.push(li);
    }
    $("talkers").replaceChildren(...items);
}

function renderPinned() {
    const pinned = Object.entries(view.filter).filter(([key]) => !FORM_FIELDS.some(([k]) => k === key));
    const chips = pinned.map(([key, value]) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "pf-v6-c-button pf-m-secondary pf-m-small cd-pin";
        b.dataset.key = key;
        const label = pinLabel(key, value);
        b.textContent = label + " ✕";
        b.setAttribute("aria-label", cockpit.format(_("Remove the filter $0"), label));
        b.addEventListener("click", () => {
            const filter = { ...view.filter };
            delete filter[key];
            go({ ...view, filter, offset: 0 });
        });
        return b;
    });
    $("pinned").replaceChildren(...chips);
}

function pinTalker(by, key) {
    const [fkey, value] = TALKER_FILTERS[by](key);
    const filter = { ...view.filter, [fkey]: value };
    // "Not translated" and a NAT address exclude each other.
    if (fkey === "nat")
        delete filter["nat-address"];
    if (fkey === "nat-address")
        delete filter.nat;
    go({ ...view, filter, offset: 0 });
}

/* ---- Listing ---- */

function updateCounts(total) {
    return client.call(PATH, "org.freedesktop.DBus.Properties", "Get", [IFACE, "Count"])
            .then(([v]) => {
                const all = v.v;
                $("counts").textContent = Object.keys(view.filter).length
                    ? cockpit.format(cockpit.ngettext("$0 matching of $1 connection", "$0 matching of $1 connections", all),
                                     num(total), num(all))
                    : cockpit.format(cockpit.ngettext("$0 connection", "$0 connections", all), num(all));
                document.body.dataset.count = String(all);
            })
            .catch(() => { $("counts").textContent = cockpit.format(_("$0 matching"), num(total)) });
}

/* Every change of the view asks for a refresh (refresh()); at most one List
 * is in flight, and asks that come meanwhile fold into one more. The body's
 * data-asked counts the asks and data-ready names the last one the page
 * shows the answer to (or the error of): the page has settled when the two
 * are equal. Tests wait for that, and so can anything that scripts the page. */
let asked = 0;

function refresh(reuse) {
    state.reuse = !!reuse;
    asked++;
    document.body.dataset.asked = String(asked);
    if (state.busy) {
        pendingRefresh = true;
        return Promise.resolve();
    }
    return load();
}

function load() {
    const started = performance.now();
    state.busy = true;
    pendingRefresh = false;
    const seq = asked;
    let again = false;
    const v = view;
    let filter;
    try {
        filter = filterVariants(v.filter);
    } catch (e) {
        renderNothing(e);
        showAlert("danger", e.message);
        state.busy = false;
        document.body.dataset.ready = String(seq);
        return Promise.resolve();
    }
    const opts = { offset: cockpit.variant("u", v.offset), limit: cockpit.variant("u", v.limit),
                   fresh: cockpit.variant("b", !state.reuse) };
    state.reuse = false;
    if (v.sort) {
        opts.sort = cockpit.variant("s", v.sort);
        opts.reverse = cockpit.variant("b", v.reverse);
    }
    const by = state.talkersBy;
    // The table shows as soon as its page is here; the bars when theirs is
    // (asked second: the service reads the table for both at once).
    const table = client.call(PATH, IFACE, "List", [filter, opts])
            .then(([total, records]) => {
                access.listDenied = false;
                // Keep the admin's place; only step back when the page emptied.
                if (!records.length && v.offset > 0 && total > 0) {
                    view = { ...v, offset: Math.max(0, Math.floor((total - 1) / v.limit) * v.limit) };
                    cockpit.location.replace([], locationOptions(view));
                    again = true;
                    return;
                }
                render(total, records);
                return updateCounts(total);
            });
    const talkers = client.call(PATH, IFACE, "Summarize", [filter, by, { limit: cockpit.variant("u", 10) }])
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
                access.listDenied = denied(err);
                renderNothing(err);
                showAlert("danger", explain(err));
            })
            .finally(() => {
                state.busy = false;
                const ended = performance.now();
                lastLoad = { ended, took: ended - started };
                showLiveWait();
                if (again || pendingRefresh)
                    load();
                else
                    document.body.dataset.ready = String(seq);
            });
}

/* ---- Details of a connection ---- */

let detailsOf = null, detailsOpener = null;

function openDetails(r) {
    const [id, family, protocol, connState, status, src, dst, sport, dport, rsrc, rdst, rsport, rdport,
        timeout, mark, zone, packets, bytesOut, rpackets, bytesIn, start, extra] = r;
    const x = key => extra[key] ? extra[key].v : undefined;
    const traffic = (b, p) => cockpit.format(cockpit.ngettext("$0 in $1 packet", "$0 in $1 packets", Number(p)),
                                             bytes(Number(b)), num(Number(p)));
    const fields = [
        ["protocol", _("Protocol"), `${protocol} (${family === "ipv6" ? "IPv6" : "IPv4"})`],
        ["state", _("State"), connState || "—"],
        ["status", _("Status"), status.join(" ") || "—"],
        ["original", _("Original direction"), endpoint(src, sport) + " → " + endpoint(dst, dport)],
        ["reply", _("Reply direction"), endpoint(rsrc, rsport) + " → " + endpoint(rdst, rdport)],
        ["nat", _("NAT"), natText(status, rsrc, rsport, rdst) || _("Not translated")],
        ["sent", _("Sent (original)"), traffic(bytesOut, packets)],
        ["received", _("Received (reply)"), traffic(bytesIn, rpackets)],
        ["start", _("Started"), Number(start)
            ? new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "medium" })
                    .format(new Date(Number(start) / 1000)) + " (" + age(start) + ")"
            : _("Not recorded (the kernel keeps no timestamps)")],
        ["timeout", _("Timeout"), duration(timeout)],
        ["mark", _("Mark"), "0x" + Number(mark).toString(16)],
        ["zone", _("Zone"), String(zone)],
        ["helper", _("Helper"), x("helper") || _("None")],
        ["labels", _("Labels"), (x("labels") || []).join(", ") || _("None")],
    ];
    if (x("icmp-type") !== undefined)
        fields.push(["icmp", _("ICMP type, code, id"), `${x("icmp-type")}, ${x("icmp-code")}, ${x("icmp-id")}`]);
    fields.push(["id", _("Kernel id"), String(id)]);
    $("details-list").replaceChildren(...fields.map(([key, term, value]) => {
        const group = document.createElement("div");
        group.className = "pf-v6-c-description-list__group";
        const dt = document.createElement("dt");
        dt.className = "pf-v6-c-description-list__term";
        dt.textContent = term;
        const dd = document.createElement("dd");
        dd.className = "pf-v6-c-description-list__description";
        dd.dataset.field = key;
        dd.textContent = value;
        group.append(dt, dd);
        return group;
    }));
    $("details-title").textContent = cockpit.format(_("Connection $0"), `${protocol} ${endpoint(src, sport)} → ${endpoint(dst, dport)}`);
    $("details").dataset.id = String(id);
    detailsOf = r;
    detailsOpener = document.activeElement;
    updateAccess();
    $("details").hidden = false;
    $("details-close").focus();
}

function closeDetails() {
    $("details").hidden = true;
    detailsOf = null;
    if (detailsOpener && document.body.contains(detailsOpener))
        detailsOpener.focus();
}

/* ---- Changes ---- */

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
        const onKey = e => { if (e.key === "Escape") done(false) };
        document.addEventListener("keydown", onKey);
        $("confirm-yes").onclick = () => done(true);
        $("confirm-no").onclick = () => done(false);
    });
}

function deleteOne(r) {
    const [id, , protocol, , , src, dst, sport, dport, , , , , , , zone, , , , , , extra] = r;
    const spec = {
        protocol: cockpit.variant("s", protocol), src: cockpit.variant("s", src),
        dst: cockpit.variant("s", dst), zone: cockpit.variant("q", zone), id: cockpit.variant("u", Number(id)),
    };
    if (protocol === "icmp" || protocol === "icmpv6") {
        spec["icmp-type"] = cockpit.variant("y", extra["icmp-type"].v);
        spec["icmp-code"] = cockpit.variant("y", extra["icmp-code"].v);
        spec["icmp-id"] = cockpit.variant("q", extra["icmp-id"].v);
    } else if (["tcp", "udp", "udplite", "sctp", "dccp"].includes(protocol)) {
        spec.sport = cockpit.variant("q", sport);
        spec.dport = cockpit.variant("q", dport);
    } else {
        for (const k of ["protocol", "src", "dst", "zone"])
            delete spec[k];   // other protocols: by id alone
    }
    const what = `${protocol} ${endpoint(src, sport)} → ${endpoint(dst, dport)}`;
    return client.call(PATH, IFACE, "Delete", [spec])
            .then(() => showAlert("success", cockpit.format(_("Deleted $0."), what)))
            .catch(err => showAlert("danger", explain(err)))
            .then(() => refresh());
}

function deleteMatching() {
    const n = state.total;
    return confirmDialog(cockpit.format(cockpit.ngettext("Delete $0 matching connection?", "Delete $0 matching connections?", n), num(n)),
                         _("Every connection that matches the current filter will be dropped. Flows that are still in use will start over."))
            .then(yes => yes && client.call(PATH, IFACE, "DeleteMatching", [filterVariants(view.filter)])
                    .then(([deleted]) => showAlert("success", cockpit.format(
                        cockpit.ngettext("Deleted $0 connection.", "Deleted $0 connections.", deleted), num(deleted))))
                    .catch(err => showAlert("danger", explain(err)))
                    .then(() => refresh()));
}

function flush() {
    return confirmDialog(_("Delete all connections?"),
                         _("The whole connection tracking table will be emptied: every connection through and to this machine starts over, and NAT mappings are made anew."))
            .then(yes => yes && client.call(PATH, IFACE, "Flush", [])
                    .then(([deleted]) => showAlert("success", cockpit.format(
                        cockpit.ngettext("Deleted all $0 connection.", "Deleted all $0 connections.", deleted), num(deleted))))
                    .catch(err => showAlert("danger", explain(err)))
                    .then(() => refresh()));
}

/* ---- Live mode: the service's coalesced signal, throttled by what a refresh costs ---- */

/* The wait between live refreshes, shown when it is longer than the tick. */
function showLiveWait() {
    const wait = liveWait();
    document.body.dataset.liveWait = String(Math.round(wait));
    const every = $("live-every");
    every.hidden = !state.live || wait <= LIVE_TICK_MS;
    every.textContent = cockpit.format(_("every $0"), duration(Math.round(wait / 1000)));
    every.parentElement.title = every.hidden ? "" :
        cockpit.format(_("A refresh of this view took $0 s: live updates wait ten times as long, to spare the system."),
                       num(Math.round(lastLoad.took / 100) / 10));
}

/* The table changed: one live refresh once the wait since the last refresh
 * is over. Checked again when the timer fires, as a refresh may have run or
 * be running meanwhile (asking then would queue one right after it). */
function liveSoon() {
    if (liveTimer)
        return;
    const due = lastLoad.ended + liveWait() - performance.now();
    liveTimer = window.setTimeout(() => {
        liveTimer = null;
        if (!state.live)
            return;
        if (liveDue(0))
            refresh();
        else
            liveSoon();
    }, Math.max(LIVE_MIN_MS, due));
}

function subscribe() {
    liveSub = client.subscribe({ path: PATH, interface: IFACE, member: "ConnectionsChanged" }, liveSoon);
    client.call(PATH, IFACE, "Subscribe", [])
            .then(() => { document.body.dataset.live = "on" })
            .catch(err => {
                showAlert("danger", explain(err));
                $("live").checked = false;
                setLive(false);
            });
}

function setLive(on) {
    if (on === state.live)
        return;
    state.live = on;
    window.clearInterval(liveTick);
    liveTick = null;
    if (on) {
        liveTick = window.setInterval(() => {
            if (!document.hidden && !liveTimer && liveDue(LIVE_TICK_MS))
                refresh();
        }, LIVE_MIN_MS);
        subscribe();
    } else {
        if (liveSub)
            liveSub.remove();
        liveSub = null;
        delete document.body.dataset.live;
        client.call(PATH, IFACE, "Unsubscribe", []).catch(() => {});
    }
    showLiveWait();
    updateAccess();
}

/* ---- Start ---- */

document.addEventListener("DOMContentLoaded", () => {
    cockpit.translate();
    document.documentElement.lang = locale();
    document.documentElement.dir = cockpit.language_direction || "ltr";

    $("filters").addEventListener("submit", applyFilters);
    for (const [, id] of FORM_FIELDS)
        if ($(id).tagName === "SELECT")
            $(id).addEventListener("change", applyFilters);
    $("clear").addEventListener("click", () => {
        $("alerts").replaceChildren();
        go({ ...view, filter: {}, offset: 0 });
    });
    $("talkers-by").addEventListener("change", e => { state.talkersBy = e.target.value; refresh() });
    $("refresh").addEventListener("click", () => refresh());
    $("live").addEventListener("change", e => setLive(e.target.checked));
    $("delete-matching").addEventListener("click", deleteMatching);
    $("flush").addEventListener("click", flush);
    // Paging stays within one listing (the service keeps it): no new dump,
    // each connection once. Everything else lists anew.
    $("prev").addEventListener("click", () => go({ ...view, offset: Math.max(0, view.offset - view.limit) }));
    $("next").addEventListener("click", () => go({ ...view, offset: view.offset + view.limit }));
    $("page-size").addEventListener("change", e => go({ ...view, limit: Number(e.target.value), offset: 0 }));
    for (const b of document.querySelectorAll(".cd-sort"))
        b.addEventListener("click", () => {
            const sort = b.dataset.sort;
            const reverse = view.sort === sort ? !view.reverse : ["bytes", "packets", "start"].includes(sort);
            go({ ...view, sort, reverse, offset: 0 });
        });
    $("details-close").addEventListener("click", closeDetails);
    $("details-delete").addEventListener("click", () => {
        const r = detailsOf;
        closeDetails();
        if (r)
            deleteOne(r);
    });
    document.addEventListener("keydown", e => {
        if (e.key === "Escape" && !$("details").hidden && $("confirm").hidden)
            closeDetails();
    });
    cockpit.addEventListener("locationchanged", () => show(viewFromLocation()));

    view = viewFromLocation();
    fillForm();
    renderPinned();
    watchSuperuser(() => {
        connect();
        refresh();
    });
});
