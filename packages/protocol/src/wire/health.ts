/** `GET /syncx/health` and `GET /syncx/status` (protocol-latest §1.13). */
import { z } from "zod";

/** The app name the upstream live-server harness requires from `/syncx/status`. */
export const EXAMPLE_SERVER_APP_NAME = "nethttp-server-example";

/** Status/health body: the harness reads `app_name`; June's other fields are optional here. */
export const statusResponseSchema = z.looseObject({
  status: z.enum(["healthy", "unhealthy"]).optional(),
  version: z.string().optional(),
  app_name: z.string(),
});

/** A status/health body. */
export type StatusResponse = z.infer<typeof statusResponseSchema>;
