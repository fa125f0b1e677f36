#!/usr/bin/env python3
"""A local stand-in for a Slack incoming webhook (standard library only).

    python3 scripts/slack_standin.py [--port 4599] [--out .localstack/slack.jsonl]

Binds 127.0.0.1 only. Every POST, whatever the path (/services/T000/B000/XXXX looks like a
real webhook), is answered 200 `ok` as Slack does; its body is appended as one JSON line to
the output file (the parsed JSON if the body is JSON, else the body as a JSON string), and a
short line per message goes to stdout. A GET answers 200 with a one-line description (used as
a readiness check). `scripts/localstack.sh setup` starts it in the background, `stop` stops it.
"""

import argparse
import json
import os
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def summary(body):
    """A short, one-line description of a Slack message for the log."""
    if isinstance(body, dict):
        text = body.get("text")
        if not text:
            for block in body.get("blocks") or []:
                t = (block.get("text") or {}).get("text") if isinstance(block, dict) else None
                if t:
                    text = t
                    break
        if text:
            text = " ".join(str(text).split())
            return text if len(text) <= 160 else text[:157] + "..."
        return "JSON without text: keys " + ",".join(sorted(body))
    return "non-JSON body of %d characters" % len(str(body))


class Handler(BaseHTTPRequestHandler):
    server_version = "albwatch-slack-standin"
    lock = threading.Lock()
    out_path = None
    count = 0

    def _reply(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        with Handler.lock:
            with open(Handler.out_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(body, ensure_ascii=False) + "\n")
            Handler.count += 1
            n = Handler.count
        stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
        print("%s #%d %s: %s" % (stamp, n, self.path, summary(body)), flush=True)
        self._reply(200, "ok")

    def do_GET(self):
        self._reply(200, "albwatch Slack stand-in: POST a message to any path\n")

    def log_message(self, *args):  # the one line per message above is enough
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("SLACK_STANDIN_PORT", 4599)))
    parser.add_argument("--out", default=".localstack/slack.jsonl")
    args = parser.parse_args()
    Handler.out_path = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(Handler.out_path), exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(
        "Slack stand-in on http://127.0.0.1:%d/ writing %s" % (args.port, Handler.out_path),
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
