#!/usr/bin/python3
"""The live object's introspection equals data/org.example.Connections.xml
(less its doc annotations), and that file documents every member and argument."""
import os
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402

sandbox.enter_namespaces()
tap = sandbox.TAP()
DOC = "org.gtk.GDBus.DocString"


def shape(iface):
    """A comparable form of an <interface>: members, args, annotations but docs."""
    out = []
    for m in iface:
        if m.tag == "annotation":
            if m.get("name") != DOC:
                out.append(("annotation", m.get("name"), m.get("value")))
            continue
        args = [(a.get("name"), a.get("type"), a.get("direction") or ("out" if m.tag == "signal" else "in"))
                for a in m.findall("arg")]
        notes = sorted((a.get("name"), a.get("value")) for a in m.findall("annotation") if a.get("name") != DOC)
        out.append((m.tag, m.get("name"), m.get("type"), m.get("access"), tuple(args), tuple(notes)))
    return sorted(out)


def find_iface(root):
    for i in root.iter("interface"):
        if i.get("name") == sandbox.IFACE:
            return i
    return None


sb = sandbox.Sandbox().start(polkit=False)
try:
    live = sandbox.run(["busctl", "introspect", "--xml-interface", sandbox.NAME, sandbox.PATH]).stdout
    live_iface = find_iface(ET.fromstring(live))
    doc_iface = find_iface(ET.parse(os.path.join(sandbox.SRCDIR, "data", "org.example.Connections.xml")).getroot())
    tap.ok(live_iface is not None and doc_iface is not None, "both have the interface")
    a, b = shape(live_iface), shape(doc_iface)
    tap.eq(a, b, "the live interface equals the introspection file")
    undocumented = []
    for m in doc_iface:
        if m.tag == "annotation":
            continue
        if not any(x.get("name") == DOC and x.get("value") for x in m.findall("annotation")):
            undocumented.append(m.get("name"))
        for arg in m.findall("arg"):
            if not any(x.get("name") == DOC and x.get("value") for x in arg.findall("annotation")):
                undocumented.append("%s(%s)" % (m.get("name"), arg.get("name")))
    tap.eq(undocumented, [], "every member and argument of the file is documented")
finally:
    sb.finish(tap)
sys.exit(tap.done())
