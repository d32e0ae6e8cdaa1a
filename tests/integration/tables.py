"""Tables for the tests: a router with a LAN and two NATed uplinks, local
flows on loopback, and entries made with conntrack -I.

Topology (every namespace created by the test, inside its own sandbox):
    lan (10.0.0.2) --lan0-- router = the test's namespace --wan1-- isp1 (198.51.100.1)
                                                         --wan2-- isp2 (203.0.113.1)
The router SNATs LAN traffic to its uplink address (198.51.100.2 / 203.0.113.2)
and DNATs 10.0.0.1:8080 to 203.0.113.1:80.
"""
import os
import subprocess
import sys

import sandbox

HERE = os.path.dirname(os.path.abspath(__file__))
TRAFFIC = os.path.join(HERE, "traffic.py")

WAN1, WAN2 = "198.51.100.2", "203.0.113.2"
ISP1, ISP2 = "198.51.100.1", "203.0.113.1"

NAT_RULESET = """
table ip cdnat {
    chain pre { type nat hook prerouting priority -100;
        iifname "lan0" tcp dport 8080 dnat to 203.0.113.1:80; }
    chain post { type nat hook postrouting priority 100;
        oifname "wan1" snat to 198.51.100.2;
        oifname "wan2" snat to 203.0.113.2; }
}
"""


def sh(cmd):
    sandbox.run(cmd)


def link(router_if, router_addr, ns, ns_addr, gateway=None):
    sh(["ip", "netns", "add", ns])
    sh(["ip", "link", "add", "name", router_if, "type", "veth", "peer", "name", "eth0", "netns", ns])
    sh(["ip", "addr", "add", router_addr, "dev", router_if])
    sh(["ip", "link", "set", router_if, "up"])
    sh(["ip", "-n", ns, "addr", "add", ns_addr, "dev", "eth0"])
    sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
    sh(["ip", "-n", ns, "link", "set", "lo", "up"])
    if gateway:
        sh(["ip", "-n", ns, "route", "add", "default", "via", gateway])


def start(sb, args, ns=None):
    """Starts traffic.py (in netns ns) and waits for its "ready"."""
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["/usr/bin/python3", TRAFFIC] + args
    p = sandbox.popen(cmd, stdout=subprocess.PIPE, text=True)
    sb.procs.append(p)
    line = p.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError("traffic %s did not start" % args)
    return p


def multiwan(sb):
    """The router: LAN, two uplinks with SNAT, a DNAT; flows from the LAN."""
    link("lan0", "10.0.0.1/24", "lan", "10.0.0.2/24", gateway="10.0.0.1")
    link("wan1", WAN1 + "/24", "isp1", ISP1 + "/24")
    link("wan2", WAN2 + "/24", "isp2", ISP2 + "/24")
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1\n")
    sb.nft(NAT_RULESET)
    start(sb, ["serve", ISP1, "80", "5060"], ns="isp1")
    start(sb, ["serve", ISP2, "80", "5060"], ns="isp2")
    start(sb, ["connect", ISP1 + ":80/tcp", ISP1 + ":80/tcp", ISP1 + ":5060/udp",
               ISP2 + ":80/tcp", ISP2 + ":5060/udp", "10.0.0.1:8080/tcp"], ns="lan")


def local(sb):
    """Flows of the router itself: TCP and UDP on IPv4 and IPv6 loopback, ICMP."""
    start(sb, ["serve", "127.0.0.1", "7001", "7002"])
    start(sb, ["serve", "::1", "7001", "7002"])
    start(sb, ["connect", "127.0.0.1:7001/tcp", "127.0.0.1:7002/udp", "[::1]:7001/tcp",
               "[::1]:7002/udp", "127.0.0.1:7999/udp-noreply"])
    sh("ping -c1 -W2 127.0.0.1 >/dev/null && ping -c1 -W2 ::1 >/dev/null")


def inserted(sb):
    """Entries made with conntrack -I: marks, zones, another state."""
    for args in (
        "-p tcp -s 192.0.2.10 -d 192.0.2.20 --sport 1111 --dport 443 --state ESTABLISHED -u SEEN_REPLY,ASSURED --mark 16",
        "-p tcp -s 192.0.2.11 -d 192.0.2.20 --sport 1112 --dport 443 --state TIME_WAIT -u SEEN_REPLY --mark 17",
        "-p udp -s 192.0.2.12 -d 192.0.2.21 --sport 1113 --dport 53 --mark 32 --zone 5",
        "-p tcp -s 2001:db8::10 -d 2001:db8::20 --sport 1114 --dport 22 --state SYN_SENT --zone 5",
        "-p udp -s 2001:db8::11 -d 2001:db8:1::53 --sport 1115 --dport 53 -u SEEN_REPLY --mark 48",
    ):
        sh("conntrack -I %s -t 600" % args)


def mixed(sb):
    multiwan(sb)
    local(sb)
    inserted(sb)
