/**
 * The app's own writes to the example tables, as an app would make them: plain SQL on its SQLite
 * file, which the client's triggers capture. Keys are fresh lowercase UUIDs (the server's uuid
 * columns take only those); `files`/`file_reviews` keep theirs as 16-byte BLOBs.
 */
import { randomUUID } from "node:crypto";
import { uuidToBytes } from "@oversync/protocol";
import type { Device } from "./device.js";

/** A fresh row key. */
export function newId(): string {
  return randomUUID();
}

/** The 16-byte BLOB form of a uuid key (`files`, `file_reviews`). */
export function blobKey(id: string): Uint8Array {
  return uuidToBytes(id);
}

/** Inserts a `users` row. */
export async function addUser(device: Device, id: string, name: string, updatedAt?: string): Promise<void> {
  await device.run(
    `INSERT INTO users (id, name, email${updatedAt === undefined ? "" : ", updated_at"}) VALUES (?, ?, ?${updatedAt === undefined ? "" : ", ?"})`,
    [id, name, emailOf(name), ...(updatedAt === undefined ? [] : [updatedAt])],
  );
}

/** Renames a `users` row (and its email with it). */
export async function renameUser(
  device: Device,
  id: string,
  name: string,
  updatedAt?: string,
): Promise<void> {
  await device.run(
    `UPDATE users SET name = ?, email = ?${updatedAt === undefined ? "" : ", updated_at = ?"} WHERE id = ?`,
    [name, emailOf(name), ...(updatedAt === undefined ? [] : [updatedAt]), id],
  );
}

/** Deletes a `users` row. */
export async function deleteUser(device: Device, id: string): Promise<void> {
  await device.run("DELETE FROM users WHERE id = ?", [id]);
}

/** Inserts a `posts` row by `authorId`. */
export async function addPost(device: Device, id: string, authorId: string, title: string): Promise<void> {
  await device.run("INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)", [
    id,
    title,
    `${title}: body`,
    authorId,
  ]);
}

/** The device's `users` as id → name. */
export async function userNames(device: Device): Promise<Map<string, string>> {
  const rows = await device.query<{ id: string; name: string }>("SELECT id, name FROM users ORDER BY id");
  return new Map(rows.map((row) => [row.id, row.name]));
}

/** `name` as an email address: lowercase, non-alphanumerics as dashes. */
export function emailOf(name: string): string {
  return `${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}@example.com`;
}
