#!/usr/bin/env node
// A Cosmos DB protocol server for the integration tests (@vercel/cosmosdb-server, in memory).
//
// Usage: node tests/support/cosmos_server.js <port>   (0 = any free port)
//
// Prints exactly one line, "LISTENING <port>", once it accepts connections. The parent
// (tests/support/cosmos.py) keeps our stdin open as a lifeline: when it closes -- the test
// process exited, even by SIGKILL -- we exit too, so no server ever outlives its tests.
//
// One server quirk is fixed here rather than in the Python transport, because only the
// server can fix it: its transactional batch is not atomic (see atomicBatch below).
"use strict";

// Deep requires: the package has no "exports" map, and the version is pinned exactly.
const batchHandler = require("@vercel/cosmosdb-server/lib/handler/batch-documents");
const documentOperations = require("@vercel/cosmosdb-server/lib/handler/_document-operations");
const readJson = require("@vercel/cosmosdb-server/lib/json").default;

const HOST = "127.0.0.1";

const OPERATIONS = {
  Create: documentOperations.createOperation,
  Upsert: documentOperations.upsertOperation,
  Read: documentOperations.readOperation,
  Delete: documentOperations.deleteOperation,
  Replace: documentOperations.replaceOperation,
};

function isTrue(value) {
  return typeof value === "string" && value.toLowerCase() === "true";
}

// The stock handler applies a batch's operations one by one and, when one fails, marks the
// rest 424 but keeps the ones before it: a failed append would leave its events behind.
// Cosmos DB applies an atomic batch all or nothing. This handler runs the stock per-operation
// code on a snapshot of the container's documents and restores it on any failure; the
// response then has the failing operation's status and 424 for every other one, as Cosmos
// answers. Everything between reading the body and answering is synchronous, so no other
// request can interleave with the snapshot.
function atomicBatch(stockHandler) {
  return async (account, req, res, params) => {
    if (!isTrue(req.headers["x-ms-cosmos-batch-atomic"])) {
      return stockHandler(account, req, res, params);
    }
    const body = await readJson(req);
    const collection = account.database(params.dbId).collection(params.collId);
    if (!collection.read()) {
      res.statusCode = 404;
      return {};
    }
    if (!Array.isArray(body)) {
      res.statusCode = 400;
      return { message: "Invalid request body" };
    }
    const documents = collection.documents;
    const snapshot = {
      data: new Map(documents._data),
      index: new Map(documents._index),
      ridCount: documents._ridCount,
    };
    const restore = () => {
      documents._data = snapshot.data;
      documents._index = snapshot.index;
      documents._ridCount = snapshot.ridCount;
    };
    const results = [];
    for (const input of body) {
      const operationType = input ? input.operationType : null;
      const operation = OPERATIONS[operationType];
      if (!operation) {
        restore();
        res.statusCode = 400;
        return { message: `Operation type '${operationType}' is not supported in Batch.` };
      }
      let result;
      try {
        result = operation(collection, input);
      } catch (err) {
        restore();
        throw err;
      }
      if (result.statusCode >= 400) {
        restore();
        const failedAt = results.length;
        return body.map((_, i) =>
          i === failedAt
            ? { statusCode: result.statusCode, requestCharge: 0 }
            : { statusCode: 424, requestCharge: 0 },
        );
      }
      results.push({
        statusCode: result.statusCode,
        requestCharge: 1,
        eTag: result.body ? result.body._etag : undefined,
        resourceBody: result.body,
      });
    }
    return results;
  };
}

// Must run before the package's route table is built: it captures the handler function.
batchHandler.default = atomicBatch(batchHandler.default);
const { createHttpsServer } = require("@vercel/cosmosdb-server");

const port = Number.parseInt(process.argv[2] ?? "0", 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`usage: cosmos_server.js <port>; not a port: ${process.argv[2]}\n`);
  process.exit(2);
}

// keepAlive: the server otherwise answers "connection: close" and every request pays a
// fresh TCP + TLS handshake (~45 ms instead of ~3 ms).
const server = createHttpsServer({ keepAlive: true });

const sockets = new Set();
server.on("connection", (socket) => {
  sockets.add(socket);
  socket.on("close", () => sockets.delete(socket));
});

let stopping = false;
function stop(code) {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(code));
  // Idle keep-alive connections would hold close() open; the data is in memory anyway.
  for (const socket of sockets) socket.destroy();
  setTimeout(() => process.exit(code), 2000).unref();
}

server.on("error", (err) => {
  process.stderr.write(`cosmos test server failed: ${err.stack || err}\n`);
  process.exit(1);
});

server.listen(port, HOST, () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

process.on("SIGTERM", () => stop(0));
process.on("SIGINT", () => stop(0));
process.stdin.on("end", () => stop(0));
process.stdin.on("error", () => stop(0));
process.stdin.resume();
