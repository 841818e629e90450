#!/usr/bin/env bash
# The commands of the docs site's Getting started page, in regions the site includes; not a script
# to run whole. test/docs/getting-started.test.ts runs the curl tour against the reference server
# and checks that the other commands name real npm scripts and flags.
set -euo pipefail

# region start
npm install && npm start   # the reference sync server on http://127.0.0.1:8080
# endregion start

# region curl
curl -s http://127.0.0.1:8080/syncx/health
TOKEN=$(curl -s -X POST http://127.0.0.1:8080/dummy-signin -d '{"user":"alice","password":"any"}' \
  | sed -E 's/.*"token":"([^"]+)".*/\1/')
AUTH=(-H "Authorization: Bearer $TOKEN" -H "Oversync-Source-ID: my-laptop")
curl -s "${AUTH[@]}" http://127.0.0.1:8080/sync/capabilities
curl -s "${AUTH[@]}" -X POST http://127.0.0.1:8080/sync/connect -d '{"has_local_pending_rows":false}'
curl -s "${AUTH[@]}" "http://127.0.0.1:8080/sync/pull?after_bundle_seq=0"
# endregion curl

# region config
npm start -- --config notes.json   # with @oversync/cli installed: npx oversync serve --config notes.json
# endregion config
