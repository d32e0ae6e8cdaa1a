"""Real traffic for the sandbox's conntrack table.

Run as a program inside a test's namespaces:
  traffic.py serve ADDR TCPPORT UDPPORT   TCP server that holds connections
                                          open, UDP echo; prints "ready"
  traffic.py connect ADDR:PORT/PROTO...   opens each flow (TCP stays
                                          established, UDP gets an answer),
                                          prints "ready", holds until killed
"""
import socket
import sys
import threading
import time


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(addr, tcp_port, udp_port):
    fam = family_of(addr)
    t = socket.socket(fam, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, tcp_port))
    t.listen(128)
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.bind((addr, udp_port))
    held = []

    def accept():
        while True:
            c, _ = t.accept()
            held.append(c)

    def echo():
        while True:
            data, peer = u.recvfrom(2048)
            u.sendto(data, peer)

    threading.Thread(target=accept, daemon=True).start()
    threading.Thread(target=echo, daemon=True).start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def connect(targets):
    held = []
    for t in targets:
        hostport, proto = t.rsplit("/", 1)
        host, port = hostport.rsplit(":", 1)
        host = host.strip("[]")
        fam = family_of(host)
        if proto == "tcp":
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"hello")
        else:
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.settimeout(5)
            s.sendto(b"hello", (host, int(port)))
            if proto == "udp":     # "udp-noreply" sends only
                s.recvfrom(2048)
                s.sendto(b"again", (host, int(port)))  # both ways seen: ASSURED
        held.append(s)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        connect(sys.argv[2:])
