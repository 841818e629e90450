/** Devices of the run's user, opened and signed in as one step (most scenarios start this way). */
import type { Device } from "../device.js";
import type { ScenarioContext } from "../scenario.js";

/** Opens the named devices and attaches each to the run's user, in order. */
export function signInDevices<const Names extends readonly string[]>(
  context: ScenarioContext,
  names: Names,
): Promise<{ [Index in keyof Names]: Device }> {
  const label = names.length > 3 ? `${names.length} devices` : names.join(", ");
  return context.step(`sign in on ${label}`, async () => {
    const devices: Device[] = [];
    for (const name of names) {
      const device = await context.openDevice(name);
      await device.attach(context.userId);
      devices.push(device);
    }
    return devices as { [Index in keyof Names]: Device };
  });
}
