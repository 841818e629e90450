/**
 * One server per PGlite data directory. PGlite runs PostgreSQL inside this process without a
 * postmaster, so nothing stops a second process from opening the same files and corrupting them;
 * a lock file beside the directory, holding the owner's pid, does.
 */
import { open, readFile, unlink } from "node:fs/promises";
import { CliError } from "./cli-error.js";

/** A held lock; release() removes the file. */
export interface DataDirLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Takes `<dataDir>.lock`, replacing a lock left behind by a process that no longer runs. */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const path = `${dataDir.replace(/[/\\]+$/, "")}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return { path, release: () => releaseLock(path) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw lockError(path, error);
    }
    const owner = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
    if (Number.isInteger(owner) && owner > 0 && isRunning(owner)) {
      throw new CliError(
        "data_dir_locked",
        `another process (pid ${owner}) is serving the PGlite data in ${dataDir}; stop it, or pass --data-dir with another directory`,
      );
    }
    await unlink(path).catch(() => undefined);
  }
}

async function releaseLock(path: string): Promise<void> {
  const owner = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
  if (owner === process.pid) await unlink(path).catch(() => undefined);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function lockError(path: string, error: unknown): CliError {
  if (error instanceof CliError) return error;
  return new CliError(
    "data_dir_locked",
    `could not create the lock file ${path}: ${(error as Error).message}; check the directory is writable`,
    { cause: error },
  );
}
