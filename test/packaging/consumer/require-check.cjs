// A CommonJS app: the packages are ESM only, and Node (20.19+, 22.12+) loads them through
// require(esm). The module a require returns is the one an import returns, so classes such as
// the error family stay one class whichever way an app loads them.
const client = require("@oversync/client");
const betterSqlite3 = require("@oversync/client/better-sqlite3");
const server = require("@oversync/server");
const protocol = require("@oversync/protocol");
const react = require("@oversync/react");
const kysely = require("@oversync/kysely");

import("@oversync/client").then((imported) => {
  console.log(
    JSON.stringify({
      createSyncClient: typeof client.createSyncClient,
      openBetterSqlite3Driver: typeof betterSqlite3.openBetterSqlite3Driver,
      createSyncHandler: typeof server.createSyncHandler,
      canonicalJson: typeof protocol.canonicalJson,
      useQuery: typeof react.useQuery,
      OversyncDialect: typeof kysely.OversyncDialect,
      sameModule: imported.OversyncClientError === client.OversyncClientError,
    }),
  );
});
