// Initiates the MongoDB replica set "rs0" (mongo-1, mongo-2, mongo-3).
//
// Run once by the one-shot "mongo-init" compose service:
//   mongosh --host mongo-1 /init-replica.js
//
// Idempotent: if the replica set is already initiated (e.g. on a restart with
// existing volumes) it only waits for a primary. It exits non-zero on any
// unexpected error or if no primary is elected in time, so services that
// depend on it (condition: service_completed_successfully) do not start
// against a replica set without a primary.

const REPLICA_SET = 'rs0';
const MEMBERS = ['mongo-1:27017', 'mongo-2:27017', 'mongo-3:27017'];
const PRIMARY_TIMEOUT_MS = 120 * 1000;

const config = {
  _id: REPLICA_SET,
  members: MEMBERS.map((host, i) => ({ _id: i, host: host })),
};

function hasCode(err, codeName, code) {
  return err != null && (err.codeName === codeName || err.code === code);
}

try {
  const status = rs.status();
  print(`init-replica: replica set "${status.set}" already initiated; skipping rs.initiate()`);
} catch (err) {
  // replSetGetStatus fails with NotYetInitialized (code 94) on a fresh node.
  if (!hasCode(err, 'NotYetInitialized', 94)) {
    throw err;
  }
  print(`init-replica: initiating replica set "${REPLICA_SET}" with members ${MEMBERS.join(', ')}`);
  try {
    rs.initiate(config);
  } catch (initErr) {
    // Someone else initiated it between our status check and now: fine.
    if (!hasCode(initErr, 'AlreadyInitialized', 23)) {
      throw initErr;
    }
    print('init-replica: replica set was initiated concurrently; continuing');
  }
}

// Wait until a primary has been elected.
const deadline = Date.now() + PRIMARY_TIMEOUT_MS;
for (;;) {
  let primary = null;
  try {
    primary = rs.status().members.find((m) => m.stateStr === 'PRIMARY');
  } catch (err) {
    print(`init-replica: rs.status() not ready yet: ${err.message}`);
  }
  if (primary) {
    print(`init-replica: primary is ${primary.name}`);
    break;
  }
  if (Date.now() > deadline) {
    print(`init-replica: no primary elected within ${PRIMARY_TIMEOUT_MS / 1000}s`);
    quit(1);
  }
  sleep(1000);
}
