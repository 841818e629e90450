/** `npm run openapi`: writes docs/openapi.yaml from the endpoint table (openapi-document.ts). */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { OPENAPI_PATH, openApiYaml } from "./openapi-document.js";

const target = join(dirname(fileURLToPath(import.meta.url)), "..", OPENAPI_PATH);
writeFileSync(target, openApiYaml());
console.log(`wrote ${OPENAPI_PATH}`);
