#!/usr/bin/env node
// A Cosmos DB protocol server for the integration tests (@vercel/cosmosdb-server, in memory).
//
// Usage: node tests/support/cosmos_server.js <port> [latency-ms]   (port 0 = any free port)
//
// latency-ms (default 0) holds every request that long before the server handles it, to imitate
// a network between client and service (the benchmarks use it; the tests do not).
//
// Prints exactly one line, "LISTENING <port>", once it accepts connections. The parent
// (tests/support/cosmos.py) keeps our stdin open as a lifeline: when it closes -- the test
// process exited, even by SIGKILL -- we exit too, so no server ever outlives its tests.
//
// Three gaps are filled here rather than in the Python transport: its transactional batch is not
// atomic (see atomicBatch below), it reads each batch operation's partition key from the
// operation instead of the request's header, and it has no Patch (partial document update)
// operation in a batch (see patchOperation below). Fixing the second one here, not by rewriting
// every batch body on the client, keeps the client's CPU what production spends.
"use strict";

// Deep requires: the package has no "exports" map, and the version is pinned exactly.
const batchHandler = require("@vercel/cosmosdb-server/lib/handler/batch-documents");
const documentOperations = require("@vercel/cosmosdb-server/lib/handler/_document-operations");
const readJson = require("@vercel/cosmosdb-server/lib/json").default;
const { parsePartitionKey } = require("@vercel/cosmosdb-server/lib/utils/get-partition-from-header");

const HOST = "127.0.0.1";

const OPERATIONS = {
  Create: documentOperations.createOperation,
  Upsert: documentOperations.upsertOperation,
  Read: documentOperations.readOperation,
  Delete: documentOperations.deleteOperation,
  Replace: documentOperations.replaceOperation,
  Patch: patchOperation,
};

// Cosmos DB's documented limit on the operations of one patch.
const MAX_PATCH_OPERATIONS = 10;

function failure(statusCode, message) {
  return { statusCode, body: { code: statusCode === 404 ? "NotFound" : "BadRequest", message } };
}

// A JSON Pointer (RFC 6901) as Cosmos takes it: "/a/b", with "~1" for "/" and "~0" for "~".
function pointer(path) {
  if (typeof path !== "string" || !path.startsWith("/") || path === "/") return null;
  return path
    .slice(1)
    .split("/")
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
}

// The container holding the target of `parts` in `doc`, and the last key; null if a parent is missing.
function locate(doc, parts) {
  let node = doc;
  for (const part of parts.slice(0, -1)) {
    if (node === null || typeof node !== "object" || !(part in node)) return null;
    node = node[part];
  }
  if (node === null || typeof node !== "object") return null;
  return { node, key: parts[parts.length - 1] };
}

// One patch operation on `doc` (a copy), following Cosmos DB's partial document update:
// add/set create or overwrite a property, replace and remove need it to exist, incr adds a
// number (creating the property), move takes `from` to `path`. Returns an error message or null.
function applyPatch(doc, operation) {
  const parts = pointer(operation.path);
  if (!parts) return `invalid path ${JSON.stringify(operation.path)}`;
  const target = locate(doc, parts);
  if (!target) return `the parent of ${operation.path} does not exist`;
  const { node, key } = target;
  const isArray = Array.isArray(node);
  const index = key === "-" ? node.length : Number(key);
  if (isArray && !(Number.isInteger(index) && index >= 0 && index <= node.length)) {
    return `invalid array index in ${operation.path}`;
  }
  const exists = isArray ? index < node.length : Object.prototype.hasOwnProperty.call(node, key);
  switch (operation.op) {
    case "add":
      if (isArray) node.splice(index, 0, operation.value);
      else node[key] = operation.value;
      return null;
    case "set":
      if (isArray && index === node.length) node.push(operation.value);
      else node[isArray ? index : key] = operation.value;
      return null;
    case "replace":
      if (!exists) return `${operation.path} does not exist`;
      node[isArray ? index : key] = operation.value;
      return null;
    case "remove":
      if (!exists) return `${operation.path} does not exist`;
      if (isArray) node.splice(index, 1);
      else delete node[key];
      return null;
    case "incr": {
      if (typeof operation.value !== "number") return "incr needs a number";
      if (!exists) {
        node[isArray ? index : key] = operation.value;
        return null;
      }
      const current = node[isArray ? index : key];
      if (typeof current !== "number") return `${operation.path} is not a number`;
      node[isArray ? index : key] = current + operation.value;
      return null;
    }
    case "move": {
      const from = pointer(operation.from);
      const source = from && locate(doc, from);
      if (!source || !Object.prototype.hasOwnProperty.call(source.node, source.key)) {
        return `${operation.from} does not exist`;
      }
      const value = source.node[source.key];
      if (Array.isArray(source.node)) source.node.splice(Number(source.key), 1);
      else delete source.node[source.key];
      node[isArray ? index : key] = value;
      return null;
    }
    default:
      return `unknown patch operation ${JSON.stringify(operation.op)}`;
  }
}

// A batch's Patch: {operationType: "Patch", id, partitionKey, ifMatch?, resourceBody: {operations,
// condition?}}. 404 when the document is missing, 412 when ifMatch does not match, 400 for a bad
// operation (the document is left as it was). A filter predicate (`condition`) is refused with
// 400: nothing here evaluates SQL against one document, and silently ignoring it would be wrong.
function patchOperation(collection, input) {
  const body = input.resourceBody || {};
  const operations = body.operations;
  if (!Array.isArray(operations) || operations.length === 0) return failure(400, "no patch operations");
  if (operations.length > MAX_PATCH_OPERATIONS) {
    return failure(400, `at most ${MAX_PATCH_OPERATIONS} operations per patch`);
  }
  if (body.condition !== undefined) return failure(400, "patch conditions are not supported by the test server");
  const partitionKey = parsePartitionKey(input.partitionKey, input.id);
  const data = collection.document(input.id, partitionKey).read();
  if (!data) return failure(404, "Entity with the specified id does not exist in the system.");
  if (input.ifMatch && input.ifMatch !== data._etag) {
    return {
      statusCode: 412,
      body: { code: "PreconditionFailed", message: "Operation cannot be performed because one of the specified precondition is not met." },
    };
  }
  const patched = JSON.parse(JSON.stringify(data));
  for (const operation of operations) {
    const problem = applyPatch(patched, operation || {});
    if (problem) return failure(400, problem);
  }
  try {
    // replace() refuses a changed id or partition key (400), as Cosmos refuses patching them.
    return { statusCode: 200, body: collection.documents.replace(patched, data) };
  } catch (err) {
    if (err.badRequest) return failure(400, err.message);
    throw err;
  }
}

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
    // The Python SDK sends the batch's partition key once, in this header, as the real service
    // expects; the stock per-operation code reads it from each operation (and answers 500 for a
    // replace/upsert/read/delete/patch without one). Each operation gets the header's.
    const partitionKey = req.headers["x-ms-documentdb-partitionkey"];
    const results = [];
    for (const input of body) {
      if (input && typeof input === "object" && input.partitionKey === undefined && partitionKey !== undefined) {
        input.partitionKey = Array.isArray(partitionKey) ? partitionKey[0] : partitionKey;
      }
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
const latencyMs = Number.parseInt(process.argv[3] ?? "0", 10);
if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isInteger(latencyMs) || latencyMs < 0) {
  process.stderr.write(`usage: cosmos_server.js <port> [latency-ms]; got: ${process.argv.slice(2).join(" ")}\n`);
  process.exit(2);
}

// keepAlive: the server otherwise answers "connection: close" and every request pays a
// fresh TCP + TLS handshake (~45 ms instead of ~3 ms).
const server = createHttpsServer({ keepAlive: true });

if (latencyMs > 0) {
  // Requests wait before the package's handlers see them; the body waits in the paused stream.
  const handlers = server.listeners("request");
  server.removeAllListeners("request");
  server.on("request", (req, res) => {
    setTimeout(() => {
      for (const handler of handlers) handler.call(server, req, res);
    }, latencyMs);
  });
}

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
