#!/usr/bin/env node
/** Entry point of the `oversync` command (`npm start` runs `oversync serve`). */
import { main } from "./main.js";

process.exit(await main(process.argv.slice(2), process.env));
