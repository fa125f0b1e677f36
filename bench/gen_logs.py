#!/usr/bin/env python3
"""Generate realistic AWS Application Load Balancer access logs (Python 3.11+, stdlib only).

Bulk mode writes N lines (or N MB) of synthetic traffic:

    python3 bench/gen_logs.py --mb 250 --gzip -o /tmp/alb-250mb.log.gz
    python3 bench/gen_logs.py --lines 100000 --targets 6 --error-rate 0.02 -o /tmp/alb.log

Scenario mode writes a fixture set:

    python3 bench/gen_logs.py --scenario incident -o fixtures/incident   # the 30-minute incident
    python3 bench/gen_logs.py --scenario logs -o fixtures/logs           # multi-member / corrupt gz
    python3 bench/gen_logs.py --scenario events -o fixtures/events       # awslogs data + .json.gz

Lines follow the documented field order (type ... request_transform_status, 33 fields) or,
with --fields, one of the older layouts (25, 27, 29, 30).  Quoted fields are escaped the way
ALB does it: `"`, `\\` and bytes outside printable ASCII become `\\xHH`.
Everything is deterministic for a given --seed.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import math
import os
import random
import sys
import time as _time
import zlib
from datetime import datetime, timezone

# ---------------------------------------------------------------------------------------------
# Constants shared by every mode
# ---------------------------------------------------------------------------------------------

FIELD_NAMES = (
    "type time elb client:port target:port request_processing_time target_processing_time "
    "response_processing_time elb_status_code target_status_code received_bytes sent_bytes "
    "request user_agent ssl_cipher ssl_protocol target_group_arn trace_id domain_name "
    "chosen_cert_arn matched_rule_priority request_creation_time actions_executed redirect_url "
    "error_reason target:port_list target_status_code_list classification classification_reason "
    "conn_trace_id transformed_host transformed_uri request_transform_status"
).split()
LAYOUTS = (25, 27, 29, 30, 33)

ACCOUNT = "123456789012"
REGION = "us-east-1"
ELB = "app/shop-prod/50dc6c495c0c9188"
TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/shop-web/943f017f100becff"
CERT_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/3f9c0b1e-7a2d-4c55-9e1a-2b8d6f4c0a17"
DOMAIN = "shop.example.com"

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36 Edg/136.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.7151.61 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.7103.125 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:139.0) Gecko/20100101 Firefox/139.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:139.0) Gecko/20100101 Firefox/139.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
    "ShopApp/5.12.1 (iPhone; iOS 18.5; Scale/3.00)",
    "ShopApp/5.12.0 (Android 14; Pixel 7)",
    "okhttp/4.12.0",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Go-http-client/2.0",
    "Amazon CloudFront",
    'Mozilla/5.0 (compatible; "PriceWatch" crawler/1.3; +https://pricewatch.example/bot)',
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36",
    "-",
]
# Browsers dominate; index weights roughly follow a shop's mix.
UA_WEIGHTS = [14, 5, 8, 7, 13, 2, 7, 4, 2, 2, 2, 1, 14, 10, 3, 1, 1, 1, 1, 1, 1, 1]

TLS = [  # (cipher, protocol, weight) as ALB logs them
    ("TLS_AES_128_GCM_SHA256", "TLSv1.3", 58),
    ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2", 34),
    ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 5),
    ("ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.2", 2),
    ("TLS_CHACHA20_POLY1305_SHA256", "TLSv1.3", 1),
]

SEARCH_TERMS = ["running+shoes", "rain%20jacket", "wool+socks", "caf%C3%A9+mug", "usb-c+cable",
                "gift+card", "yoga+mat", "kids+backpack", "linen+shirt", "sale"]
CATEGORIES = ["shoes", "outerwear", "accessories", "kitchen", "electronics", "kids", "sale", "home"]
UTM = ["", "", "", "", "&utm_source=newsletter&utm_medium=email&utm_campaign=summer25",
       "&utm_source=google&utm_medium=cpc", "&gclid=Cj0KCQjw3ZayBhDRARIsAPWzx8p"]
HEX = "0123456789abcdef"
DOC_NETS = ["192.0.2", "198.51.100", "203.0.113"]
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def alb_escape(s: str) -> str:
    """Escape a quoted-field value the way ALB does: `"`, `\\`, controls and non-ASCII -> \\xHH."""
    out = []
    for b in s.encode("utf-8"):
        if b == 0x22 or b == 0x5C or b < 0x20 or b > 0x7E:
            out.append("\\x%02X" % b)
        else:
            out.append(chr(b))
    return "".join(out)


def rfc3339_to_epoch(s: str) -> float:
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


class Clock:
    """Formats epoch seconds as ALB timestamps, caching the per-second prefix."""

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def prefix(self, sec: int) -> str:
        p = self._cache.get(sec)
        if p is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            p = datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            self._cache[sec] = p
        return p

    def usec(self, t: float) -> str:
        """`time` field: microsecond precision."""
        us = int(round(t * 1_000_000))
        sec, frac = divmod(us, 1_000_000)
        return f"{self.prefix(sec)}.{frac:06d}Z"

    def msec(self, t: float) -> str:
        """`request_creation_time`: millisecond precision, printed with six digits."""
        ms = int(t * 1000)
        sec, frac = divmod(ms, 1000)
        return f"{self.prefix(sec)}.{frac:03d}000Z"


def fmt_line(typ, time_s, client, target, rpt, tpt, resp, elb_code, tgt_code, rbytes, sbytes,
             request, ua, cipher, proto, tg, trace, domain, cert, rule, created, actions,
             redirect, error, tlist, tslist, cls, clsr, tid, layout=33,
             thost="-", turi="-", tstatus="-", elb=ELB) -> str:
    """One access-log line; `request`, `ua`, `redirect` etc. must already be ALB-escaped."""
    line = (f'{typ} {time_s} {elb} {client} {target} {rpt} {tpt} {resp} {elb_code} {tgt_code} '
            f'{rbytes} {sbytes} "{request}" "{ua}" {cipher} {proto} {tg} "{trace}" "{domain}" '
            f'"{cert}" {rule} {created} "{actions}" "{redirect}" "{error}"')
    if layout >= 27:
        line += f' "{tlist}" "{tslist}"'
    if layout >= 29:
        line += f' "{cls}" "{clsr}"'
    if layout >= 30:
        line += f" {tid}"
    if layout >= 33:
        line += f' "{thost}" "{turi}" "{tstatus}"'
    return line


# ---------------------------------------------------------------------------------------------
# Gzip helpers
# ---------------------------------------------------------------------------------------------

def gzip_member(data: bytes, level: int = 6) -> bytes:
    """One complete gzip member (RFC 1952, mtime 0 so output is reproducible)."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def count_gzip_members(blob: bytes) -> int:
    n, pos = 0, 0
    while pos < len(blob):
        d = zlib.decompressobj(31)
        d.decompress(blob[pos:])
        if not d.eof:
            raise ValueError(f"truncated gzip member at byte {pos}")
        pos = len(blob) - len(d.unused_data)
        n += 1
    return n


# ---------------------------------------------------------------------------------------------
# Bulk generator (benchmarks)
# ---------------------------------------------------------------------------------------------

class BulkGen:
    """Fast synthetic traffic: pools are built once, each line is a handful of lookups."""

    POOL = 4096

    def __init__(self, seed: int, targets: int, error_rate: float, start: float, rps: float,
                 layout: int) -> None:
        self.rng = random.Random(seed)
        self.error_rate = error_rate
        self.t = start
        self.step = 1.0 / rps
        self.layout = layout
        self.clock = Clock()
        rng = self.rng
        r = rng.random
        N = self.POOL

        self.targets = [f"10.0.{1 + i // 200}.{10 + i % 200}:8080" for i in range(max(1, targets))]

        # Client addresses come from the documentation ranges (RFC 5737 / RFC 3849) only.
        clients = []
        for i in range(N):
            if r() > 0.06:
                ip = f"{rng.choice(DOC_NETS)}.{rng.randint(1, 254)}"
            else:
                ip = f"2001:db8:{rng.randint(0, 0xffff):x}::{rng.randint(1, 0xffff):x}"
            clients.append(f"{ip}:{rng.randint(1024, 65535)}")
        self.clients = clients
        uas = [alb_escape(u) for u in USER_AGENTS]
        self.uas = rng.choices(uas, weights=UA_WEIGHTS, k=N)
        self.tls = rng.choices([(c, p) for c, p, _ in TLS], weights=[w for *_, w in TLS], k=N)
        self.tids = ["TID_" + "".join(rng.choices(HEX, k=16)) for _ in range(N * 4)]
        self.trace_tails = ["".join(rng.choices(HEX, k=16)) for _ in range(N)]
        self.certs = [CERT_ARN if r() > 0.35 else "session-reused" for _ in range(N)]
        # Timings: mostly fast API calls, a slow tail.
        self.tpt = []
        for _ in range(N):
            v = min(29.0, math.exp(rng.gauss(math.log(0.045), 0.9)))
            self.tpt.append(v)
        self.rpt = rng.choices(["0.000", "0.001", "0.002"], weights=[70, 26, 4], k=N)
        self.resp = rng.choices(["0.000", "0.001"], weights=[92, 8], k=N)
        self.reqs = [self._request(rng) for _ in range(N)]
        self.rbytes = [rng.randint(180, 1400) for _ in range(N)]
        self.sbytes_small = [rng.randint(300, 24000) for _ in range(N)]
        self.sbytes_big = [rng.randint(20000, 310000) for _ in range(N)]
        self.n = 0

    @staticmethod
    def _request(rng: random.Random):
        """Returns (method, path_and_query, rule_priority, is_static)."""
        x = rng.random()
        pid = rng.randint(10000, 99999)
        if x < 0.30:
            path = f"/api/v1/products/{pid}"
            if rng.random() < 0.3:
                path += f"/reviews?page={rng.randint(1, 12)}&sort=recent"
            return ("GET", path, "10", False)
        if x < 0.45:
            q = rng.choice(SEARCH_TERMS)
            return ("GET", f"/api/v1/search?q={q}&page={rng.randint(1, 5)}&limit=24{rng.choice(UTM)}", "10", False)
        if x < 0.55:
            return ("GET", f"/c/{rng.choice(CATEGORIES)}?page={rng.randint(1, 9)}{rng.choice(UTM)}", "0", False)
        if x < 0.65:
            m = rng.choice(["POST", "POST", "PUT", "DELETE"])
            return (m, f"/api/v1/cart/items{'' if m == 'POST' else '/' + str(pid)}", "10", False)
        if x < 0.69:
            return ("POST", "/api/v1/checkout/session", "10", False)
        if x < 0.72:
            return ("GET", f"/account/orders?status=open&ts={rng.randint(1_700_000_000, 1_760_000_000)}", "0", False)
        if x < 0.80:
            h = "".join(rng.choices(HEX, k=8))
            return ("GET", rng.choice([f"/static/js/app.{h}.js", f"/static/css/main.{h}.css",
                                       f"/static/js/vendor.{h}.chunk.js"]), "20", True)
        if x < 0.92:
            return ("GET", f"/images/products/{pid}/{rng.choice(['320', '640', '1280'])}w.webp", "20", True)
        if x < 0.97:
            return ("GET", "/", "0", False)
        return (rng.choice(["OPTIONS", "HEAD"]), f"/api/v1/products/{pid}", "10", False)

    def lines(self):
        """Yields lines forever (without newline)."""
        rng = self.rng
        r = rng.random
        N = self.POOL
        clock = self.clock
        targets = self.targets
        nt = len(targets)
        err = self.error_rate
        layout = self.layout
        tg = TG_ARN
        clients, uas, tls, tids, tails, certs = (self.clients, self.uas, self.tls, self.tids,
                                                  self.trace_tails, self.certs)
        tpts, rpts, resps, reqs = self.tpt, self.rpt, self.resp, self.reqs
        rbs, sbs, sbb = self.rbytes, self.sbytes_small, self.sbytes_big
        ntids = len(tids)
        t = self.t
        step = self.step
        counter = 0
        while True:
            counter += 1
            t += step * (0.2 + 1.6 * r())
            i = int(r() * N)
            j = int(r() * N)
            k = int(r() * N)
            method, path, rule, static = reqs[j]
            client = clients[i]
            ua = uas[k]
            x = r()
            typ = "h2" if x < 0.55 else ("https" if x < 0.96 else "http")
            tpt_v = tpts[(i + j) % N]
            created = t - tpt_v - 0.001
            tid = tids[int(r() * ntids)]
            trace = f"Root=1-{int(created):08x}-{(counter * 2654435761) & 0xffffffff:08x}{tails[k]}"
            cls = clsr = "-"
            if (counter & 1023) == 7:  # unencoded space in the URI, logged as sent
                cls, clsr = "Acceptable", "SpaceInUri"
                path += ("&" if "?" in path else "?") + "ref=summer sale"
            if typ == "http":
                # Port-80 listener: default action redirects to HTTPS.
                request = f"{method} http://{DOMAIN}:80{path} HTTP/1.1"
                red = f"https://{DOMAIN}:443{path}"
                yield fmt_line(typ, clock.usec(t), client, "-", "-1", "-1", "-1", "301", "-",
                               rbs[k], 190, request, ua, "-", "-", "-", trace, "-", "-", "0",
                               clock.msec(t - 0.0005), "redirect", red, "-", "-", "-", "-", "-",
                               tid, layout)
                continue
            cipher, proto = tls[i]
            ver = "HTTP/2.0" if typ == "h2" else "HTTP/1.1"
            request = f"{method} https://{DOMAIN}:443{path} {ver}"
            target = targets[(i + counter) % nt]
            y = r()
            if y < err:
                z = r()
                if z < 0.45:
                    code, tcode, rpt, tpt, resp, sb = "500", "500", rpts[j], f"{tpt_v:.3f}", resps[j], 412
                elif z < 0.75:
                    code, tcode, rpt, tpt, resp, sb = "502", "-", rpts[j], "-1", "-1", 277
                elif z < 0.90:
                    code, tcode, rpt, tpt, resp, sb = "504", "-", "-1", "-1", "-1", 303
                    created = t - 60.0
                else:
                    code, tcode, rpt, tpt, resp, sb = "503", "-", "-1", "-1", "-1", 345
                    target = "-"
            elif y < err + 0.025:
                code, tcode, rpt, tpt, resp, sb = "404", "404", rpts[j], f"{tpt_v:.3f}", resps[j], 520
            elif y < err + 0.030:
                code, tcode, rpt, tpt, resp, sb = "403", "-", "-1", "-1", "-1", 255
                target = "-"
            elif y < err + 0.080 and static:
                code, tcode, rpt, tpt, resp, sb = "304", "304", rpts[j], f"{tpt_v:.3f}", resps[j], 246
            else:
                code = tcode = "200" if method != "POST" else "201"
                rpt, tpt, resp = rpts[j], f"{tpt_v:.3f}", resps[j]
                sb = sbb[j] if static else sbs[j]
            if target == "-":
                actions = "waf" if code == "403" else "waf,forward"
                tlist = tslist = "-"
                rule_v = "-" if code == "403" else rule
            else:
                actions = "waf,forward"
                tlist, tslist, rule_v = target, tcode, rule
            yield fmt_line(typ, clock.usec(t), client, target, rpt, tpt, resp, code, tcode,
                           rbs[k], sb, request, ua, cipher, proto, tg, trace, DOMAIN, certs[k],
                           rule_v, clock.msec(created), actions, "-", "-", tlist, tslist, cls,
                           clsr, tid, layout)


def write_bulk(args) -> None:
    start = rfc3339_to_epoch(args.start)
    gen = BulkGen(args.seed, args.targets, args.error_rate, start, args.rps, args.fields)
    limit_lines = args.lines
    limit_bytes = int(args.mb * 1_000_000) if args.mb else None
    if limit_lines is None and limit_bytes is None:
        limit_lines = 100_000
    per_member = args.members_every or 4000  # ~2 MB of ~520-byte lines
    chunk_lines = per_member if args.gzip else 8192
    out = sys.stdout.buffer if args.output in (None, "-") else open(args.output, "wb")
    t0 = _time.perf_counter()
    written_lines = written_bytes = members = 0
    it = gen.lines()
    try:
        done = False
        while not done:
            batch = []
            size = 0
            for _ in range(chunk_lines):
                line = next(it)
                batch.append(line)
                size += len(line) + 1
                written_lines += 1
                if limit_lines is not None and written_lines >= limit_lines:
                    done = True
                    break
                if limit_bytes is not None and written_bytes + size >= limit_bytes:
                    done = True
                    break
            batch.append("")
            data = "\n".join(batch).encode("ascii")
            written_bytes += len(data)
            if args.gzip:
                out.write(gzip_member(data, args.level))
                members += 1
            else:
                out.write(data)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    dt = _time.perf_counter() - t0
    print(f"wrote {written_lines} lines, {written_bytes / 1e6:.1f} MB uncompressed"
          f"{f', {members} gzip members' if args.gzip else ''} in {dt:.1f} s "
          f"({written_bytes / 1e6 / dt:.1f} MB/s)", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Scenario: incident (fixtures/incident)
# ---------------------------------------------------------------------------------------------

INC_START = "2025-06-21T22:30:00Z"
INC_MINUTES = 30
INC_RPS = 20.0
INC_TARGETS = ["10.0.1.10:8080", "10.0.1.11:8080", "10.0.1.12:8080"]
INC_BAD = "10.0.1.11:8080"
INC_FAIL = ("2025-06-21T22:42:00Z", "2025-06-21T22:48:00Z")  # by request_creation_time
INC_FAIL_RATE = 0.40
INC_BURST = ("2025-06-21T22:45:00Z", "2025-06-21T22:46:00Z")
INC_BURST_RATE = 0.65
INC_BACKGROUND = 0.003
INC_NODE_IP = "10.0.1.15"


def incident_records(seed: int):
    """Yields (time_epoch, line, target_key, elb_code) for the incident, unsorted."""
    rng = random.Random(seed)
    clock = Clock()
    start = rfc3339_to_epoch(INC_START)
    end = start + INC_MINUTES * 60
    fail_a, fail_b = (rfc3339_to_epoch(x) for x in INC_FAIL)
    burst_a, burst_b = (rfc3339_to_epoch(x) for x in INC_BURST)

    # Client sessions: an address, a user agent, a protocol and a connection id, reused.
    doc_v4 = [f"198.51.100.{i}" for i in range(2, 255)] + [f"203.0.113.{i}" for i in range(2, 255)] \
        + [f"192.0.2.{i}" for i in range(2, 255)]
    sessions = []
    for _ in range(700):
        if rng.random() < 0.07:
            ip = f"2001:db8:{rng.randint(0x10, 0xfff):x}:{rng.randint(1, 0xffff):x}::{rng.randint(1, 0xff):x}"
        else:
            ip = rng.choice(doc_v4)
        ua = rng.choices(USER_AGENTS, weights=UA_WEIGHTS)[0]
        typ = "h2" if ("Mozilla" in ua and rng.random() < 0.8) else "https"
        cipher, proto, _ = rng.choices(TLS, weights=[w for *_, w in TLS])[0]
        sessions.append({"ip": ip, "port": rng.randint(1024, 65535), "ua": alb_escape(ua),
                         "typ": typ, "cipher": cipher, "proto": proto,
                         "tid": "TID_" + "".join(rng.choices(HEX, k=16)), "uses": 0})
    weights = [1.0 / (1 + i) ** 0.8 for i in range(len(sessions))]

    t = start
    rr = 0
    while True:
        t += rng.expovariate(INC_RPS)
        if t >= end:
            break
        s = rng.choices(sessions, weights=weights)[0]
        s["uses"] += 1
        if s["uses"] > rng.randint(20, 60):  # new connection: new port and conn id
            s["uses"] = 0
            s["port"] = rng.randint(1024, 65535)
            s["tid"] = "TID_" + "".join(rng.choices(HEX, k=16))
        client = f'{s["ip"]}:{s["port"]}'
        method, path, rule, static = BulkGen._request(rng)
        created = t
        trace = f"Root=1-{int(created):08x}-{''.join(rng.choices(HEX, k=24))}"
        rbytes = rng.randint(200, 900) if method in ("GET", "HEAD", "OPTIONS") else rng.randint(700, 4800)
        cls = clsr = "-"
        if rng.random() < 0.001:  # client sent an unencoded space; ALB logs the URL as is
            cls, clsr = "Acceptable", "SpaceInUri"
            path += ("&" if "?" in path else "?") + "ref=summer sale"
        x = rng.random()

        # -- requests that never reach a target ---------------------------------------------
        if x < 0.03:  # plain HTTP -> HTTPS redirect on the port-80 listener
            done = created + 0.0004 + rng.random() * 0.0005
            line = fmt_line("http", clock.usec(done), client, "-", "-1", "-1", "-1", "301", "-",
                            rbytes, 190, f"{method} http://{DOMAIN}:80{path} HTTP/1.1", s["ua"],
                            "-", "-", "-", trace, "-", "-", "0", clock.msec(created), "redirect",
                            f"https://{DOMAIN}:443{path}", "-", "-", "-", cls, clsr, s["tid"])
            yield done, line, "-", 301
            continue
        typ = s["typ"]
        ver = "HTTP/2.0" if typ == "h2" else "HTTP/1.1"
        request = f"{method} https://{DOMAIN}:443{path} {ver}"
        cert = CERT_ARN if rng.random() > 0.35 else "session-reused"
        common = (s["ua"], s["cipher"], s["proto"])
        if x < 0.032:  # blocked by AWS WAF
            done = created + 0.002 + rng.random() * 0.004
            line = fmt_line(typ, clock.usec(done), client, "-", "-1", "-1", "-1", "403", "-",
                            rbytes, 255, request, *common, TG_ARN, trace, DOMAIN, cert, "-",
                            clock.msec(created), "waf", "-", "-", "-", "-", cls, clsr, s["tid"])
            yield done, line, "-", 403
            continue
        if burst_a <= created < burst_b and rng.random() < INC_BURST_RATE:
            # Target group has no healthy targets for this request: 503, target "-".
            done = created + 0.0003 + rng.random() * 0.0008
            line = fmt_line(typ, clock.usec(done), client, "-", "-1", "-1", "-1", "503", "-",
                            rbytes, 345 if typ == "https" else 199, request, *common, TG_ARN,
                            trace, DOMAIN, cert, rule, clock.msec(created), "waf,forward", "-",
                            "-", "-", "-", cls, clsr, s["tid"])
            yield done, line, "-", 503
            continue

        # -- forwarded to a target ------------------------------------------------------------
        rr += 1
        target = INC_TARGETS[(rr + rng.randint(0, 1)) % 3]
        failing = target == INC_BAD and fail_a <= created < fail_b
        rpt = rng.choices(["0.000", "0.001", "0.002"], weights=[70, 26, 4])[0]
        if failing:
            tpt_v = min(25.0, math.exp(rng.gauss(math.log(1.2), 0.6)))
        else:
            tpt_v = min(8.0, math.exp(rng.gauss(math.log(0.045 if not static else 0.008), 0.8)))
        if failing and rng.random() < INC_FAIL_RATE:
            if rng.random() < 0.6:  # target reset the connection
                done = created + 0.002 + rng.random() * 2.5
                code, tcode, rpt, tpt, resp, sb = 502, "-", "0.000", "-1", "-1", 277 if typ == "https" else 110
            else:  # no response before the 60 s idle timeout
                done = created + 60.0 + rng.random() * 0.05
                code, tcode, rpt, tpt, resp, sb = 504, "-", "-1", "-1", "-1", 303 if typ == "https" else 136
        elif rng.random() < INC_BACKGROUND:
            if rng.random() < 0.8:
                done = created + 0.001 + tpt_v
                code, tcode, tpt, resp, sb = 500, "500", f"{tpt_v:.3f}", "0.000", rng.randint(380, 460)
            else:
                done = created + 0.002 + rng.random() * 0.8
                code, tcode, tpt, resp, sb = 502, "-", "-1", "-1", 277 if typ == "https" else 110
        else:
            y = rng.random()
            done = created + 0.001 + tpt_v
            tpt, resp = f"{tpt_v:.3f}", rng.choices(["0.000", "0.001"], weights=[92, 8])[0]
            if y < 0.02:
                code, sb = 404, rng.randint(480, 560)
            elif y < 0.025:
                code, sb = 401, rng.randint(300, 340)
            elif static and y < 0.12:
                code, sb = 304, rng.randint(230, 260)
            else:
                code = 201 if method == "POST" else 200
                sb = rng.randint(20000, 310000) if static else rng.randint(300, 24000)
            tcode = str(code)
        line = fmt_line(typ, clock.usec(done), client, target, rpt, tpt, resp, code, tcode,
                        rbytes, sb, request, *common, TG_ARN, trace, DOMAIN, cert, rule,
                        clock.msec(created), "waf,forward", "-", "-", target, tcode, cls, clsr,
                        s["tid"])
        yield done, line, target, code

    # A few long-lived WebSocket connections closing inside the window, and two malformed
    # requests, so the fixture covers every line shape seen in production.
    for _ in range(6):
        opened = start + rng.random() * 600
        done = opened + 300 + rng.random() * 900
        s = rng.choice(sessions)
        target = rng.choice(INC_TARGETS)
        line = fmt_line("wss", clock.usec(done), f'{s["ip"]}:{rng.randint(1024, 65535)}', target,
                        "0.000", "0.002", "0.000", 101, "101", rng.randint(400, 9000),
                        rng.randint(2000, 900000), f"GET https://{DOMAIN}:443/ws/notifications HTTP/1.1",
                        s["ua"], "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2", TG_ARN,
                        f"Root=1-{int(opened):08x}-{''.join(rng.choices(HEX, k=24))}", DOMAIN,
                        CERT_ARN, "30", clock.msec(opened), "waf,forward", "-", "-", target, "101",
                        "-", "-", "TID_" + "".join(rng.choices(HEX, k=16)))
        yield done, line, target, 101
    for req in ("- http://shop.example.com:80- -", "- https://shop.example.com:443- -"):
        done = start + 60 + rng.random() * (INC_MINUTES - 2) * 60
        typ = "http" if req.startswith("- http:") else "https"
        ssl = ("-", "-") if typ == "http" else ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2")
        line = fmt_line(typ, clock.usec(done), f"203.0.113.{rng.randint(2, 254)}:{rng.randint(1024, 65535)}",
                        "-", "-1", "-1", "-1", 400, "-", 0, 272 if typ == "http" else 0, req, "-",
                        *ssl, "-", "-", "-" if typ == "http" else DOMAIN, "-", "-",
                        clock.msec(done - 0.001), "-", "-", "-", "-", "-", "-", "-",
                        "TID_" + "".join(rng.choices(HEX, k=16)))
        yield done, line, "-", 400


def write_incident(out_dir: str, seed: int) -> None:
    rng = random.Random(seed ^ 0x5EED)
    recs = sorted(incident_records(seed), key=lambda r: r[0])
    start = rfc3339_to_epoch(INC_START)
    end = start + INC_MINUTES * 60
    recs = [r for r in recs if r[0] < end]  # later lines belong to the next (unwritten) file
    clock = Clock()
    day_dir = os.path.join(out_dir, "AWSLogs", ACCOUNT, "elasticloadbalancing", REGION, "2025", "06", "21")
    os.makedirs(day_dir, exist_ok=True)
    for old in os.listdir(day_dir):
        if old.endswith(".log.gz"):
            os.remove(os.path.join(day_dir, old))
    files = []
    for f in range(INC_MINUTES // 5):
        a, b = start + f * 300, start + (f + 1) * 300
        lines = [r[1] for r in recs if a <= r[0] < b]
        end_time = datetime.fromtimestamp(b, timezone.utc).strftime("%Y%m%dT%H%MZ")
        rand = "2xkv1s9d" if f == 0 else "".join(rng.choices(ALNUM, k=8))
        name = (f"{ACCOUNT}_elasticloadbalancing_{REGION}_{ELB.replace('/', '.')}_{end_time}_"
                f"{INC_NODE_IP}_{rand}.log.gz")
        n_members = 2 + (rng.random() < 0.5)
        cuts = sorted(rng.sample(range(len(lines) // 6, len(lines) * 5 // 6), n_members - 1))
        bounds = [0, *cuts, len(lines)]
        blob = b"".join(gzip_member(("\n".join(lines[bounds[i]:bounds[i + 1]]) + "\n").encode("ascii"))
                        for i in range(n_members))
        with open(os.path.join(day_dir, name), "wb") as fh:
            fh.write(blob)
        files.append({"path": os.path.relpath(os.path.join(day_dir, name), out_dir),
                      "lines": len(lines), "gzip_members": n_members,
                      "member_lines": [bounds[i + 1] - bounds[i] for i in range(n_members)],
                      "bytes": len(blob)})

    # Expected numbers, per minute of the `time` field and per target (`-` = no target).
    per_min: dict[str, dict[str, list[int]]] = {}
    totals: dict[str, list[int]] = {}
    for t, _line, key, code in recs:
        minute = clock.usec(t)[:16] + ":00Z"
        cell = per_min.setdefault(minute, {}).setdefault(key, [0, 0])
        cell[0] += 1
        tot = totals.setdefault(key, [0, 0])
        tot[0] += 1
        if 500 <= code <= 599:
            cell[1] += 1
            tot[1] += 1
    expected = {
        "scenario": "incident",
        "seed": seed,
        "generator": "bench/gen_logs.py --scenario incident",
        "elb": ELB,
        "target_group_arn": TG_ARN,
        "window": [INC_START, datetime.fromtimestamp(end, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")],
        "lines": len(recs),
        "files": files,
        "totals_by_target": {k: {"requests": v[0], "elb_5xx": v[1]} for k, v in sorted(totals.items())},
        "per_minute": {m: {k: {"requests": v[0], "elb_5xx": v[1]} for k, v in sorted(d.items())}
                       for m, d in sorted(per_min.items())},
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1, sort_keys=False)
        fh.write("\n")
    print(f"incident: {len(recs)} lines in {len(files)} files under {day_dir}", file=sys.stderr)
    # Human-readable per-minute table for the README.
    print("minute  " + "  ".join(f"{k:>16}" for k in INC_TARGETS + ["-"]), file=sys.stderr)
    for m, d in sorted(per_min.items()):
        cells = []
        for k in INC_TARGETS + ["-"]:
            req, e = d.get(k, [0, 0])
            cells.append(f"{e:>5}/{req:<5}{(100.0 * e / req if req else 0):5.1f}%")
        print(f"{m[11:16]}  " + "  ".join(cells), file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Scenario: logs (generated files in fixtures/logs)
# ---------------------------------------------------------------------------------------------

def small_lines(seed: int, n: int, start: str, error_rate: float) -> list[str]:
    gen = BulkGen(seed, 3, error_rate, rfc3339_to_epoch(start), 2.0, 33)
    it = gen.lines()
    return [next(it) for _ in range(n)]


def elb_5xx(lines) -> int:
    n = 0
    for line in lines:
        parts = line.split(" ", 9)
        if parts[8][:1] == "5":
            n += 1
    return n


def write_logs(out_dir: str, seed: int) -> None:
    os.makedirs(out_dir, exist_ok=True)
    # multi-member.log.gz: 200 lines, 5 members of uneven size, one of them empty.
    lines = small_lines(seed, 200, "2025-06-21T21:00:00Z", 0.04)
    sizes = [37, 1, 0, 81, 81]
    parts, pos = [], 0
    for s in sizes:
        chunk = lines[pos:pos + s]
        pos += s
        parts.append(gzip_member(("".join(x + "\n" for x in chunk)).encode("ascii")))
    blob = b"".join(parts)
    with open(os.path.join(out_dir, "multi-member.log.gz"), "wb") as fh:
        fh.write(blob)
    # Same content, but member boundaries fall in the middle of lines (and of a `\r\n`-free
    # line ending), for readers that split lines per member.
    raw = ("\n".join(lines) + "\n").encode("ascii")
    cuts = [len(raw) // 7 + 13, len(raw) // 2 + 101, len(raw) * 4 // 5 - 37]
    bounds = [0, *cuts, len(raw)]
    blob2 = b"".join(gzip_member(raw[bounds[i]:bounds[i + 1]]) for i in range(len(bounds) - 1))
    with open(os.path.join(out_dir, "multi-member-midline.log.gz"), "wb") as fh:
        fh.write(blob2)
    with open(os.path.join(out_dir, "multi-member.expected"), "w") as fh:
        fh.write(f"lines\t{len(lines)}\nelb_5xx\t{elb_5xx(lines)}\n"
                 f"gzip_members\t{len(sizes)}\nmember_lines\t{','.join(map(str, sizes))}\n"
                 f"midline_gzip_members\t{len(bounds) - 1}\n")

    # corrupt.log.gz: member 1 = 50 good lines; member 2 = 150 lines whose deflate data has
    # 8 bytes overwritten with 0xFF in the middle (header intact).  Deflate has no per-block
    # check, so inflaters decode the intact prefix, hit the damaged bits (which end the stream
    # early) and then fail on the CRC-32/ISIZE trailer.
    good = small_lines(seed + 1, 50, "2025-06-21T21:10:00Z", 0.0)
    rest = small_lines(seed + 2, 150, "2025-06-21T21:11:00Z", 0.0)
    m1 = gzip_member(("\n".join(good) + "\n").encode("ascii"))
    m2 = bytearray(gzip_member(("\n".join(rest) + "\n").encode("ascii")))
    mid = len(m2) // 2
    m2[mid:mid + 8] = b"\xff" * 8
    blob = m1 + bytes(m2)
    with open(os.path.join(out_dir, "corrupt.log.gz"), "wb") as fh:
        fh.write(blob)
    # How far a streaming decoder gets before it reports the error.
    streamed = b""
    err = None
    try:
        dd = zlib.decompressobj(31)
        for i in range(0, len(m2), 64):
            streamed += dd.decompress(bytes(m2[i:i + 64]))
        dd.flush()
        if not dd.eof:
            err = "truncated"
    except zlib.error as e:
        err = str(e)
    partial = 0
    for got, want in zip(streamed.split(b"\n")[:-1], rest):
        if got != want.encode("ascii"):
            break
        partial += 1
    with open(os.path.join(out_dir, "corrupt.expected"), "w") as fh:
        fh.write(f"lines_before_corruption\t{len(good)}\n"
                 f"first_member_bytes\t{len(m1)}\n"
                 f"corrupt_member_offset\t{len(m1)}\n"
                 f"corrupted_byte_range\t{len(m1) + mid}-{len(m1) + mid + 7}\n"
                 f"streaming_extra_complete_lines\t{partial}\n"
                 f"corrupt_member_lines_if_intact\t{len(rest)}\n")
    print(f"logs: multi-member {len(lines)} lines/{len(sizes)} members, corrupt: 50 good lines, "
          f"streaming decoder sees {partial} more complete lines then error: {err}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Scenario: events (derived files in fixtures/events)
# ---------------------------------------------------------------------------------------------

def write_events(out_dir: str) -> None:
    src = os.path.join(out_dir, "cloudwatch-logs-subscription.json")
    with open(src, "rb") as fh:
        payload = json.loads(fh.read())
    compact = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    gz = gzip.compress(compact, compresslevel=6, mtime=0)
    with open(os.path.join(out_dir, "cloudwatch-logs-subscription.json.gz"), "wb") as fh:
        fh.write(gz)
    event = {"awslogs": {"data": base64.b64encode(gz).decode("ascii")}}
    with open(os.path.join(out_dir, "cloudwatch-logs-awslogs-event.json"), "w") as fh:
        json.dump(event, fh, indent=2)
        fh.write("\n")
    print(f"events: awslogs data {len(gz)} gzip bytes from {len(compact)} JSON bytes "
          f"(sha256 {hashlib.sha256(compact).hexdigest()[:16]})", file=sys.stderr)


# ---------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--lines", type=int, help="number of lines to write (default 100000)")
    size.add_argument("--mb", type=float, help="stop after this many MB (10^6 bytes) of uncompressed text")
    p.add_argument("--gzip", action="store_true", help="gzip output as concatenated members (like ALB)")
    p.add_argument("--members-every", type=int, metavar="N",
                   help="lines per gzip member (default 4000, about 2 MB uncompressed)")
    p.add_argument("--level", type=int, default=6, help="gzip level (default 6)")
    p.add_argument("--targets", type=int, default=3, help="number of targets (default 3)")
    p.add_argument("--error-rate", type=float, default=0.003, help="fraction of 5xx lines (default 0.003)")
    p.add_argument("--start", default="2025-06-21T22:30:00Z", help="RFC 3339 time of the first line")
    p.add_argument("--rps", type=float, default=200.0, help="mean requests per second (default 200)")
    p.add_argument("--fields", type=int, choices=LAYOUTS, default=33, help="line layout (default 33)")
    p.add_argument("--seed", type=int, default=20250621)
    p.add_argument("--scenario", choices=["incident", "logs", "events"],
                   help="write a fixture set instead of bulk traffic")
    p.add_argument("-o", "--output", help="output file (bulk, '-' = stdout) or directory (scenario)")
    args = p.parse_args(argv)
    if args.scenario == "incident":
        write_incident(args.output or "fixtures/incident", args.seed)
    elif args.scenario == "logs":
        write_logs(args.output or "fixtures/logs", args.seed)
    elif args.scenario == "events":
        write_events(args.output or "fixtures/events")
    else:
        write_bulk(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
