/**
 * complex-multi-batch: a phone accumulates a large, foreign-key-heavy dirty set offline (children
 * written before their parents, a category tree, the teams ↔ members cycle, binary files) and
 * pushes it in 25-row chunks. Its app process is killed twice (crash-push.ts): once with every
 * chunk uploaded but before the commit (the restarted app uploads the same frozen bundle again from
 * row 0 and the server commits it once), once right after the server committed (the restarted app
 * uploads nothing, fetches the committed bundle and replays it). A laptop then restores the account
 * from a multi-chunk snapshot and uploads a large batch, the server prunes the history the phone
 * still needs, and the phone catches up with a snapshot rebuild.
 */
import { addPost, addUser, blobKey, newId } from "../app-data.js";
import { expectConverged } from "../convergence.js";
import { pushUntilKilled } from "../crash-push.js";
import type { Device, DeviceOptions } from "../device.js";
import { type Scenario, type ScenarioContext, check, checkEqual } from "../scenario.js";
import { setRetentionFloor, signIn } from "../server-api.js";

const UPLOAD_LIMIT = 25;
const SMALL_BATCHES: DeviceOptions = {
  uploadLimit: UPLOAD_LIMIT,
  downloadLimit: 50,
  snapshotChunkRows: UPLOAD_LIMIT,
};
const AUTHORS = 5;
const POSTS_PER_AUTHOR = 20;

/** The keys of the first dirty set. */
interface Seed {
  readonly authors: string[];
  readonly posts: string[][];
  readonly categoryRoot: string;
  readonly files: string[];
}

const complexMultiBatch: Scenario = {
  name: "complex-multi-batch",
  description: "a big FK-heavy push in chunks survives kills around the commit",
  async run(context) {
    const phone = await context.step("the phone signs in to a new account", async () => {
      const device = await context.openDevice("phone", SMALL_BATCHES);
      checkEqual((await device.attach(context.userId)).outcome, "started_empty", "attach outcome");
      return device;
    });
    const seed = await context.step(
      "offline, the phone writes 129 rows, children before parents",
      async () => {
        const written = await writeSeed(phone);
        // Repeated edits collapse into one queued change per key; the two rows inserted and deleted
        // again are queued as deletes, which the freeze drops.
        checkEqual((await phone.syncState()).dirtyRows, 129n, "queued keys");
        return written;
      },
    );
    await context.step("the app is killed after uploading every chunk, before the commit", async () => {
      await phone.close();
      const { chunkStarts } = await pushUntilKilled(await crashArgs(context, phone, "before_commit"));
      checkEqual(chunkStarts, [0, 25, 50, 75, 100, 125], "chunks uploaded before the kill");
      const sessions = await context.postgres?.openPushSessions(context.userId);
      if (sessions !== undefined)
        checkEqual(sessions, [{ plannedRows: 127, stagedRows: 127 }], "PostgreSQL staged push");
      await expectBundleRows(context, []);
    });
    await context.step(
      "restarted, the app uploads the frozen bundle again from row 0; it commits once",
      async () => {
        await phone.restart();
        const state = await phone.syncState();
        checkEqual(
          [state.outboxState, state.outboxRows, state.dirtyRows],
          ["prepared", 127n, 0n],
          "outbox after the kill",
        );
        checkEqual(
          (await phone.attach(context.userId)).outcome,
          "resumed_attached_state",
          "attach after restart",
        );
        const mark = phone.requests.length;
        checkEqual((await phone.client.pushPending()).outcome, "committed", "push after restart");
        checkEqual(startsSince(phone, mark), [0, 25, 50, 75, 100, 125], "chunks uploaded after the restart");
        await expectBundleRows(context, [127]);
        await expectConverged(context, [phone]);
      },
    );
    await context.step(
      "offline again: 49 changes (cascading deletes, new files, rewritten bytes)",
      async () => {
        await writeSecondBatch(phone, seed);
        checkEqual((await phone.syncState()).dirtyRows, 49n, "queued keys");
      },
    );
    await context.step("the app is killed as the commit's answer arrives", async () => {
      await phone.close();
      const { chunkStarts } = await pushUntilKilled(await crashArgs(context, phone, "after_commit"));
      checkEqual(chunkStarts, [0, 25], "chunks uploaded before the kill");
      await expectBundleRows(context, [127, 49]);
    });
    await context.step(
      "restarted, the app fetches the committed bundle and replays it, uploading nothing",
      async () => {
        await phone.restart();
        checkEqual((await phone.syncState()).outboxState, "prepared", "outbox after the kill");
        await phone.attach(context.userId);
        const mark = phone.requests.length;
        const report = await phone.client.pushPending();
        checkEqual(
          [report.outcome, report.syncStatus.lastBundleSeqSeen],
          ["committed", 2],
          "push after restart",
        );
        checkEqual(startsSince(phone, mark), [], "chunks uploaded after the restart");
        check(
          phone.requestsTo("GET", "/sync/committed-bundles/:seq/rows", mark).length >= 1,
          "the restarted push must fetch the committed bundle's rows",
        );
        await expectBundleRows(context, [127, 49]);
        await expectConverged(context, [phone]);
      },
    );
    const laptop = await context.step(
      "a laptop signs in: the snapshot arrives in several chunks",
      async () => {
        const device = await context.openDevice("laptop", SMALL_BATCHES);
        const attached = await device.attach(context.userId);
        checkEqual(attached.outcome, "used_remote_state", "attach outcome");
        const chunks = device.requestsTo("GET", "/sync/snapshot-sessions/:id").length;
        check(chunks > 1, `the laptop fetched ${chunks} snapshot chunk(s); several were expected`);
        context.note(`laptop restored ${attached.restore?.rowCount} rows in ${chunks} snapshot chunks`);
        await expectConverged(context, [phone, device]);
        return device;
      },
    );
    await context.step(
      "the laptop uploads 20 authors with 5 posts each while the phone is behind",
      async () => {
        for (let author = 1; author <= 20; author++) {
          const id = newId();
          await addUser(laptop, id, `Laptop author ${author}`);
          for (let post = 1; post <= 5; post++)
            await addPost(laptop, newId(), id, `Laptop post ${author}.${post}`);
        }
        const mark = laptop.requests.length;
        checkEqual((await laptop.client.pushPending()).outcome, "committed", "laptop push");
        checkEqual(startsSince(laptop, mark), [0, 25, 50, 75, 100], "laptop chunks");
      },
    );
    await context.step(
      "the server prunes the history the phone still needs; the phone rebuilds",
      async () => {
        await setRetentionFloor(context, context.userId, (await laptop.syncState()).lastBundleSeqSeen);
        checkEqual(
          (await phone.client.pullToStable()).outcome,
          "applied_snapshot",
          "phone pull after the prune",
        );
        await expectConverged(context, [phone, laptop]);
      },
    );
  },
};

/** Authors and their posts (posts first), a category tree (leaves first), the team cycle, files. */
async function writeSeed(phone: Device): Promise<Seed> {
  const authors = Array.from({ length: AUTHORS }, newId);
  const posts = authors.map(() => Array.from({ length: POSTS_PER_AUTHOR }, newId));
  const categoryRoot = newId();
  const [childA, childB, childC, grandA, grandB, grandC] = Array.from({ length: 6 }, newId) as string[];
  const files = Array.from({ length: 5 }, newId);
  await phone.edit(async (run) => {
    for (const [index, author] of authors.entries()) {
      for (const [number, post] of posts[index]!.entries()) {
        await run("INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)", [
          post,
          `Post ${number + 1} by author ${index + 1}`,
          `Content ${number + 1}`,
          author,
        ]);
      }
      await run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [
        author,
        `Author ${index + 1}`,
        `a${index}@example.com`,
      ]);
    }
    const categories: [string, string, string | null][] = [
      [grandA!, "Grandchild A", childA!],
      [grandB!, "Grandchild B", childB!],
      [grandC!, "Grandchild C", childC!],
      [childA!, "Child A", categoryRoot],
      [childB!, "Child B", categoryRoot],
      [childC!, "Child C", categoryRoot],
      [categoryRoot, "Root", null],
    ];
    for (const [id, name, parent] of categories) {
      await run("INSERT INTO categories (id, name, parent_id) VALUES (?, ?, ?)", [id, name, parent]);
    }
    for (let team = 1; team <= 2; team++) {
      const [teamId, captain, member] = [newId(), newId(), newId()];
      await run("INSERT INTO teams (id, name, captain_member_id) VALUES (?, ?, ?)", [
        teamId,
        `Team ${team}`,
        captain,
      ]);
      await run("INSERT INTO team_members (id, name, team_id) VALUES (?, ?, ?)", [
        captain,
        `Captain ${team}`,
        teamId,
      ]);
      await run("INSERT INTO team_members (id, name, team_id) VALUES (?, ?, ?)", [
        member,
        `Member ${team}`,
        teamId,
      ]);
    }
    for (const [index, file] of files.entries()) {
      await run("INSERT INTO file_reviews (id, review, file_id) VALUES (?, ?, ?)", [
        blobKey(newId()),
        `Review ${index}`,
        blobKey(file),
      ]);
      await run("INSERT INTO files (id, name, data) VALUES (?, ?, ?)", [
        blobKey(file),
        `file-${index}.bin`,
        Uint8Array.from({ length: 64 * (index + 1) }, (_, byte) => (byte * 7 + index) % 256),
      ]);
    }
  });
  for (let round = 1; round <= 3; round++) {
    for (const [index, author] of authors.entries()) {
      await phone.run("UPDATE users SET name = ? WHERE id = ?", [
        `Author ${index + 1} (edit ${round})`,
        author,
      ]);
    }
  }
  for (const post of posts[0]!.slice(0, 10)) {
    await phone.run("UPDATE posts SET content = content || ' (edited)' WHERE id = ?", [post]);
    await phone.run("UPDATE posts SET content = content || ' (edited again)' WHERE id = ?", [post]);
  }
  const temporary = newId();
  await addUser(phone, temporary, "Written and deleted before any push");
  await phone.run("DELETE FROM users WHERE id = ?", [temporary]);
  await phone.run("DELETE FROM posts WHERE id = ?", [posts[1]![0]!]);
  return { authors, posts, categoryRoot, files };
}

/** 21 + 7 deletes (an author and his posts, the category tree), 5 + 10 updates, 6 inserts. */
async function writeSecondBatch(phone: Device, seed: Seed): Promise<void> {
  await phone.edit(async (run) => {
    for (const post of seed.posts[AUTHORS - 1]!) await run("DELETE FROM posts WHERE id = ?", [post]);
    await run("DELETE FROM users WHERE id = ?", [seed.authors[AUTHORS - 1]!]);
    // ON DELETE CASCADE removes the three children and three grandchildren with the root.
    await run("DELETE FROM categories WHERE id = ?", [seed.categoryRoot]);
  });
  for (const [index, file] of seed.files.entries()) {
    await phone.run("UPDATE files SET data = ? WHERE id = ?", [
      Uint8Array.from([index, 0, 255, index]),
      blobKey(file),
    ]);
  }
  for (const post of seed.posts[2]!.slice(0, 10))
    await phone.run("UPDATE posts SET title = title || ' (v2)' WHERE id = ?", [post]);
  for (let index = 0; index < 3; index++) {
    const file = newId();
    await phone.run("INSERT INTO files (id, name, data) VALUES (?, ?, ?)", [
      blobKey(file),
      `new-${index}.bin`,
      Uint8Array.from([index]),
    ]);
    await phone.run("INSERT INTO file_reviews (id, review, file_id) VALUES (?, ?, ?)", [
      blobKey(newId()),
      `New review ${index}`,
      blobKey(file),
    ]);
  }
}

async function crashArgs(context: ScenarioContext, phone: Device, crashAt: "before_commit" | "after_commit") {
  return {
    file: phone.file,
    serverUrl: context.serverUrl,
    token: await signIn(context.serverUrl, context.userId),
    userId: context.userId,
    uploadLimit: UPLOAD_LIMIT,
    crashAt,
  };
}

/** The `start_row_ordinal` of every chunk `device` uploaded since request `mark`. */
function startsSince(device: Device, mark: number): number[] {
  return device
    .requestsTo("POST", "/sync/push-sessions/:id/chunks", mark)
    .map((request) => (JSON.parse(request.body ?? "{}") as { start_row_ordinal: number }).start_row_ordinal);
}

/** With `--db`: the user's committed bundles hold these row counts, in order. */
async function expectBundleRows(context: ScenarioContext, rowCounts: readonly number[]): Promise<void> {
  const bundles = await context.postgres?.bundles(context.userId);
  if (bundles !== undefined) {
    checkEqual(
      bundles.map((bundle) => bundle.rowCount),
      rowCounts,
      "PostgreSQL committed bundles (rows each)",
    );
  }
}

export const MULTI_BATCH_SCENARIOS: readonly Scenario[] = [complexMultiBatch];
