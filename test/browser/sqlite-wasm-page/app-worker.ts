// A worker an app creates itself: it only has to load the driver's worker module.
import "@oversync/client/sqlite-wasm-worker";
