// fauxqs.mjs starts fauxqs (the SQS emulator) bound to 127.0.0.1 only.
//
// fauxqs 1.9.2 listens on host "0.0.0.0" hard-coded. This launcher patches
// net.Server.prototype.listen so that every listen of this process binds 127.0.0.1, then starts
// fauxqs. fauxqs builds queue URLs as http://sqs.<region>.localhost:<port>/...; the launcher
// makes them http://127.0.0.1:<port>/<account>/<name> instead, so that they name the address
// the emulator really listens on (fauxqs looks queues up by that exact URL).
//
// Env: FAUXQS_PORT (required), FAUXQS_LOGGER (default "false").
import net from "node:net";

const LOOPBACK = "127.0.0.1";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args.length > 0 && typeof args[0] === "object" && args[0] !== null && !Array.isArray(args[0])) {
    if (args[0].path === undefined) {
      args[0] = { ...args[0], host: LOOPBACK };
    }
  } else if (typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) {
    if (typeof args[1] === "string") {
      args[1] = LOOPBACK;
    } else {
      args.splice(1, 0, LOOPBACK);
    }
  }
  return listen.apply(this, args);
};

const port = parseInt(process.env.FAUXQS_PORT ?? "", 10);
if (!Number.isInteger(port) || port <= 0) {
  console.error("fauxqs.mjs: FAUXQS_PORT must be a port number");
  process.exit(2);
}

// Same module instance as the one app.js imports (identity is the resolved file URL).
const { SqsStore } = await import(new URL("./node_modules/fauxqs/dist/sqs/sqsStore.js", import.meta.url));
if (typeof SqsStore?.prototype?.buildQueueUrl !== "function") {
  console.error("fauxqs.mjs: SqsStore.buildQueueUrl not found; check the pinned fauxqs version");
  process.exit(2);
}
SqsStore.prototype.buildQueueUrl = function (queueName) {
  return `http://${LOOPBACK}:${port}/000000000000/${queueName}`;
};

const { startFauxqs } = await import("fauxqs");
const server = await startFauxqs({ port, logger: (process.env.FAUXQS_LOGGER ?? "false") !== "false" });
console.log(`fauxqs: listening on http://${LOOPBACK}:${server.port}`);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    server.stop().finally(() => process.exit(0));
  });
}
