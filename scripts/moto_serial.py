"""moto_server, serving one request at a time.

moto's DynamoDB has no locking: two concurrent TransactWriteItems (or conditional writes) can
both pass their condition checks before either writes. DynamoDB itself serializes conflicting
writes (a conditional write is atomic; a conflicting transaction is cancelled), and the alerter's
exactly-once claims rely on that. A global lock around each request gives the tests the same
guarantee. Usage: python moto_serial.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

LOCK = threading.Lock()
APP = DomainDispatcherApplication(create_backend_app)


def serial(environ, start_response):
    with LOCK:
        return list(APP(environ, start_response))


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, serial, threaded=True, request_handler=MotoRequestHandler)
