#!/usr/bin/python3
"""Writes the seed corpora (run once; the seeds are committed):
seeds/ctparse: real conntrack messages dumped from a sandbox table;
seeds/filter: small programs for fuzz-filter (see its header)."""
import os
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import sandbox  # noqa: E402
import tables  # noqa: E402

sandbox.enter_namespaces()
sb = sandbox.Sandbox().start(polkit=False)
try:
    tables.mixed(sb)
    sandbox.run("conntrack -I -p sctp -s 192.0.2.50 -d 192.0.2.51 --orig-port-src 5 --orig-port-dst 6 --state ESTABLISHED --vtag-orig 1 --vtag-reply 2 -t 60", check=False)
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)   # NETLINK_NETFILTER
    s.bind((0, 0))
    req = struct.pack("=IHHII", 20, (1 << 8) | 1, 0x301, 1, 0) + struct.pack("=BBH", 0, 0, 0)
    s.send(req)
    n = 0
    done = False
    while not done:
        data = s.recv(65536)
        off = 0
        while off < len(data):
            length, typ = struct.unpack_from("=IH", data, off)
            if typ == 3:   # NLMSG_DONE
                done = True
                break
            with open(os.path.join(HERE, "seeds", "ctparse", "msg%02d" % n), "wb") as f:
                f.write(data[off:off + length])
            n += 1
            off += (length + 3) & ~3
    print("ctparse seeds:", n)
finally:
    sb.stop()

# Filter programs: [entries] then per entry [key] [type] [8 value bytes] [type-specific bytes].
def entry(key, typ, value=0, extra=b""):
    return bytes([key, typ]) + struct.pack(">Q", value) + extra

progs = {
    "empty": bytes([0]),
    "port": bytes([1]) + entry(9, 2, 80),
    "tuple": bytes([3]) + entry(1, 9, 0, bytes([1, 0])) + entry(5, 9, 0, bytes([1, 7])) + entry(11, 2, 443),
    "mark": bytes([2]) + entry(12, 4, 0x100) + entry(13, 4, 0xff00),
    "status": bytes([1]) + entry(3, 10, 0, bytes([2, 1, 20, 1, 21])),
    "nested": bytes([1]) + entry(9, 11, 0, bytes([11]) + bytes(8) + bytes([2]) + bytes(8)),
    "interface": bytes([2]) + entry(17, 9, 0, bytes([1, 14])) + entry(18, 7, 1),
    "delete": bytes([5]) + entry(1, 9, 0, bytes([1, 0])) + entry(5, 9, 0, bytes([1, 7])) +
              entry(6, 9, 0, bytes([1, 7])) + entry(10, 2, 1000) + entry(11, 2, 80),
    "badtype": bytes([1]) + entry(9, 9, 0, bytes([0, 3, 0x38, 0x30, 0x30])),
}
for name, data in progs.items():
    with open(os.path.join(HERE, "seeds", "filter", name), "wb") as f:
        f.write(data)
print("filter seeds:", len(progs))
