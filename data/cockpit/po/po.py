#!/usr/bin/python3
"""The Cockpit page's translations, the way Cockpit packages ship them.

  po.py extract            the template (connections.pot) from index.html and
                           connections.js, on stdout
  po.py js LANG.po OUT     po.LANG.js: one cockpit.locale({...}) call, which
                           the bridge serves as the page's po.js to a browser
                           asking for LANG
  po.py check              TAP: the template has the strings of the sources,
                           and every language in LINGUAS translates all of it
                           (no fuzzy or empty entries, the same $0 $1 ...)

Strings to translate: in HTML, elements with the translate attribute
(cockpit.translate(): "yes" or empty translates the text, other words name
attributes); in JS, _("..."), cockpit.gettext("...") and
cockpit.ngettext("...", "...", n), always with literal double-quoted strings.
Standard library only."""
import html.parser
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.dirname(HERE)
SOURCES = ["index.html", "connections.js"]
POT = os.path.join(HERE, "connections.pot")

JS_STRING = r'"((?:[^"\\\n]|\\.)*)"'
JS_GETTEXT = re.compile(r'(?<![\w.$])(?:_|cockpit\.gettext)\(\s*' + JS_STRING + r'\s*\)')
JS_NGETTEXT = re.compile(r'cockpit\.ngettext\(\s*' + JS_STRING + r'\s*,\s*' + JS_STRING + r'\s*,')
# A call these cannot read: its string would never reach the template.
JS_UNREADABLE = re.compile(r'(?<![\w.$])(?:_|cockpit\.gettext|cockpit\.ngettext)\((?!\s*")')


class HtmlStrings(html.parser.HTMLParser):
    """(msgid, line) of every translatable text and attribute."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found, self.errors, self.open = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self.open:
            self.errors.append("line %d: <%s> inside an element whose text is translated: "
                               "cockpit.translate() would drop it" % (self.getpos()[0], tag))
        if "translate" not in a:
            return
        words = (a["translate"] or "yes").split()
        for w in words:
            if w in ("yes", "translate"):
                if tag not in ("input", "br", "img"):
                    self.open.append([tag, "", self.getpos()[0]])
            elif w != "no":
                if not a.get(w):
                    self.errors.append("line %d: translate names %s, which is empty" % (self.getpos()[0], w))
                else:
                    self.found.append((a[w], self.getpos()[0]))

    def handle_data(self, data):
        if self.open:
            self.open[-1][1] += data

    def handle_endtag(self, tag):
        if self.open and self.open[-1][0] == tag:
            _, text, line = self.open.pop()
            self.found.append((text, line))


def extract():
    """[(msgid, plural or None, [references])] in order of first use, and errors."""
    entries, errors = {}, []

    def add(msgid, plural, ref):
        if not msgid:
            errors.append("%s: an empty string is marked for translation" % ref)
            return
        e = entries.setdefault(msgid, [msgid, plural, []])
        if plural and e[1] and e[1] != plural:
            errors.append("%s: %r has two plural forms" % (ref, msgid))
        e[1] = e[1] or plural
        e[2].append(ref)

    p = HtmlStrings()
    with open(os.path.join(PAGE, "index.html"), encoding="utf-8") as f:
        p.feed(f.read())
    errors += ["index.html " + e for e in p.errors]
    for text, line in p.found:
        add(text, None, "index.html:%d" % line)
    with open(os.path.join(PAGE, "connections.js"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            ref = "connections.js:%d" % n
            for m in JS_UNREADABLE.finditer(line):
                errors.append("%s: a translation call without a literal string: %s" % (ref, line.strip()))
            for m in JS_GETTEXT.finditer(line):
                add(json.loads('"%s"' % m.group(1)), None, ref)
            for m in JS_NGETTEXT.finditer(line):
                add(json.loads('"%s"' % m.group(1)), json.loads('"%s"' % m.group(2)), ref)
    return list(entries.values()), errors


def po_quote(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")


def pot_text(entries):
    out = ['# The Connections page of connectionsd: strings to translate.',
           '# Made by po.py extract from index.html and connections.js.',
           'msgid ""', 'msgstr ""',
           '"Project-Id-Version: connectionsd\\n"',
           '"MIME-Version: 1.0\\n"',
           '"Content-Type: text/plain; charset=UTF-8\\n"',
           '"Content-Transfer-Encoding: 8bit\\n"', '']
    for msgid, plural, refs in entries:
        out.append("#: " + " ".join(refs))
        out.append("msgid " + po_quote(msgid))
        if plural:
            out += ["msgid_plural " + po_quote(plural), 'msgstr[0] ""', 'msgstr[1] ""']
        else:
            out.append('msgstr ""')
        out.append("")
    return "\n".join(out)


def po_unquote(s):
    return json.loads(s)   # PO's escapes are JSON's: \\ \" \n \t


def parse_po(path):
    """{msgid: {"plural": str|None, "msgstr": [str], "fuzzy": bool}}, and the header's text."""
    entries, cur, key, pending = {}, None, None, set()
    with open(path, encoding="utf-8") as f:
        lines = [l.strip() for l in f]
    for line in lines + ['msgid ""']:   # the sentinel ends the last entry
        if line.startswith("#,"):
            pending |= {x.strip() for x in line[2:].split(",")}
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^(msgid|msgid_plural|msgstr(?:\[(\d+)\])?)\s+(".*")$', line)
        if m:
            word, idx, val = m.group(1), m.group(2), po_unquote(m.group(3))
            if word == "msgid":
                if cur is not None:
                    entries[cur["msgid"]] = cur
                cur, key, pending = {"msgid": val, "plural": None, "msgstr": [], "fuzzy": "fuzzy" in pending}, "msgid", set()
            elif word == "msgid_plural":
                cur["plural"], key = val, "plural"
            else:
                i = int(idx) if idx is not None else 0
                cur["msgstr"] += [""] * (i + 1 - len(cur["msgstr"]))
                cur["msgstr"][i], key = val, i
        elif line.startswith('"') and cur is not None:
            val = po_unquote(line)
            if key == "msgid":
                cur["msgid"] += val
            elif key == "plural":
                cur["plural"] += val
            else:
                cur["msgstr"][key] += val
        else:
            raise ValueError("%s: cannot read %r" % (path, line))
    header = entries.pop("", {"msgstr": [""]})["msgstr"][0]
    return entries, header


def header_field(header, name):
    for line in header.split("\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None


def plural_js(header):
    forms = header_field(header, "Plural-Forms") or "nplurals=2; plural=(n != 1);"
    m = re.search(r"nplurals\s*=\s*(\d+)\s*;\s*plural\s*=\s*([^;]+);?", forms)
    if not m or not re.fullmatch(r"[n0-9\s!=<>&|?:()%+-]+", m.group(2)):
        raise ValueError("unusable Plural-Forms: %r" % forms)
    return int(m.group(1)), "n => " + m.group(2).strip()


def to_js(po_path, out_path):
    entries, header = parse_po(po_path)
    lang = header_field(header, "Language") or os.path.basename(po_path)[:-3]
    _, plural = plural_js(header)
    items = ['"": {"plural-forms": %s, "language": %s, "language-direction": "%s"}'
             % (plural, json.dumps(lang), "rtl" if lang.split("_")[0] in ("ar", "fa", "he", "ur") else "ltr")]
    for msgid, e in entries.items():
        if e["fuzzy"] or not any(e["msgstr"]):
            continue
        items.append("%s: %s" % (json.dumps(msgid, ensure_ascii=False),
                                 json.dumps([e["plural"]] + e["msgstr"], ensure_ascii=False)))
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("cockpit.locale({\n " + ",\n ".join(items) + "\n});\n")


def placeholders(s):
    return sorted(set(re.findall(r"\$\d+", s)))


def check():
    n, failed = 0, 0

    def ok(cond, desc, diag=""):
        nonlocal n, failed
        n += 1
        failed += not cond
        print("%s %d - %s" % ("ok" if cond else "not ok", n, desc))
        if not cond and diag:
            for line in str(diag).splitlines()[:30]:
                print("# " + line)

    entries, errors = extract()
    ok(not errors, "every translatable string in %s can be extracted" % " and ".join(SOURCES), "\n".join(errors))
    with open(POT, encoding="utf-8") as f:
        current = f.read()
    def strings(text):   # where a string is used may move; the strings may not
        return [line for line in text.splitlines() if not line.startswith("#:")]
    ok(strings(current) == strings(pot_text(entries)), "po/connections.pot is up to date (%d strings): else run "
       "data/cockpit/po/po.py extract > data/cockpit/po/connections.pot" % len(entries))
    with open(os.path.join(HERE, "LINGUAS"), encoding="utf-8") as f:
        langs = f.read().split()
    for lang in langs:
        po, header = parse_po(os.path.join(HERE, lang + ".po"))
        nplurals, _ = plural_js(header)
        problems = []
        for msgid, plural, _refs in entries:
            e = po.get(msgid)
            if e is None:
                problems.append("missing: %r" % msgid)
            elif e["fuzzy"]:
                problems.append("fuzzy: %r" % msgid)
            elif (e["plural"] is None) != (plural is None):
                problems.append("plural forms differ from the template: %r" % msgid)
            elif len(e["msgstr"]) != (nplurals if plural else 1) or not all(e["msgstr"]):
                problems.append("untranslated: %r" % msgid)
            else:
                want = placeholders(msgid + (plural or ""))
                for t in e["msgstr"]:
                    if placeholders(t) != placeholders(msgid) and placeholders(t) != want and \
                            not (plural and set(placeholders(t)) <= set(want)):
                        problems.append("placeholders %s in %r, %s in %r" % (placeholders(t), t, want, msgid))
        stale = [m for m in po if m not in {e[0] for e in entries}]
        ok(not problems and not stale, "%s.po translates all %d strings, with their placeholders, and no others"
           % (lang, len(entries)), "\n".join(problems + ["not in the template: %r" % m for m in stale]))
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "extract":
        ents, errs = extract()
        if errs:
            sys.exit("\n".join(errs))
        sys.stdout.write(pot_text(ents))
    elif cmd == "js" and len(sys.argv) == 4:
        to_js(sys.argv[2], sys.argv[3])
    elif cmd == "check":
        sys.exit(check())
    else:
        sys.exit(__doc__)
