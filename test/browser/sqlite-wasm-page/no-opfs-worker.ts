/**
 * The driver's worker in a browser that gives workers no OPFS access handles (as Safari before 17
 * and some embedded webviews): the driver must fall back to memory and say so. The worker module
 * looks for the API only when a database is opened, after this has run.
 */
import "@oversync/client/sqlite-wasm-worker";

delete (FileSystemFileHandle.prototype as { createSyncAccessHandle?: unknown }).createSyncAccessHandle;
