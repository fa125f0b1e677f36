'use strict';
// Preloaded into Node processes started by LocalStack (NODE_OPTIONS=--require <this file>)
// so that kinesis-mock, which always binds 0.0.0.0, listens on loopback only.
// Every TCP listen() gets host 127.0.0.1 (or $LOOPBACK_LISTEN_HOST); Unix sockets,
// handles and file descriptors are left alone.
const net = require('net');

const HOST = process.env.LOOPBACK_LISTEN_HOST || '127.0.0.1';
const originalListen = net.Server.prototype.listen;

function isPort(value) {
  return typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value));
}

net.Server.prototype.listen = function listen(...args) {
  const first = args[0];
  if (first === undefined || first === null || typeof first === 'function') {
    // listen(), listen(cb), listen(null, ...): an arbitrary port
    const drop = typeof first === 'function' || args.length === 0 ? 0 : 1;
    args.splice(0, drop, 0, HOST);
  } else if (isPort(first)) {
    // listen(port[, host][, backlog][, cb])
    if (typeof args[1] === 'string' || args[1] === undefined || args[1] === null) {
      args[1] = HOST;
    } else {
      args.splice(1, 0, HOST);
    }
  } else if (typeof first === 'object' && first.path === undefined && first.fd === undefined &&
             first._handle === undefined && first.handle === undefined && !(first instanceof net.Server)) {
    // listen(options[, cb]) for a TCP port
    args[0] = Object.assign({}, first, { host: HOST });
  }
  return originalListen.apply(this, args);
};
