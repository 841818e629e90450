import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { describeDriverConformance } from "./driver-conformance-suite.js";

describeDriverConformance("better-sqlite3 driver", openBetterSqlite3Driver);
