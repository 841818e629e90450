import { describeDriverConformance } from "./driver-conformance-suite.js";
import { openBetterSqlite3Driver } from "./better-sqlite3.js";

describeDriverConformance("better-sqlite3 driver", openBetterSqlite3Driver);
