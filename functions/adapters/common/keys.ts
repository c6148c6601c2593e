/** Key formats of FLEET_TABLE shared by the adapters that keep items under a device (docs/architecture.md "Data model"). */
export const devicePk = (deviceId: string) => `DEVICE#${deviceId}`;
