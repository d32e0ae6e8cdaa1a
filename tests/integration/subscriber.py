#!/usr/bin/python3
"""A dbus-python client that listens for the service's signals.

  subscriber.py [--no-subscribe]

Adds match rules for ConnectionsChanged and ConnectionsDeleted (as any
client may), calls Subscribe unless told not to, prints "ready" (or
"subscribe-error NAME") and then one JSON line per signal received:
{"member": ..., "args": [...]}. Runs until killed."""
import json
import sys

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

NAME, PATH, IFACE = "org.example.Connections", "/org/example/Connections", "org.example.Connections"


def plain(v):
    if isinstance(v, dbus.Dictionary):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (dbus.Array, dbus.Struct, list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.String, dbus.ObjectPath)):
        return str(v)
    if isinstance(v, (int, float)):
        return int(v) if not isinstance(v, float) else float(v)
    return str(v)


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()

    def on_signal(*args, member=None):
        print(json.dumps({"member": member, "args": [plain(a) for a in args]}), flush=True)

    for member in ("ConnectionsChanged", "ConnectionsDeleted"):
        bus.add_signal_receiver(on_signal, signal_name=member, dbus_interface=IFACE, path=PATH,
                                member_keyword="member")
    if "--no-subscribe" not in sys.argv:
        try:
            bus.call_blocking(NAME, PATH, IFACE, "Subscribe", "", [])
        except dbus.DBusException as e:
            print("subscribe-error %s" % e.get_dbus_name(), flush=True)
            GLib.MainLoop().run()
    # A round trip to the bus: the match rules are in place once it returns.
    bus.call_blocking("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId", "", [])
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
