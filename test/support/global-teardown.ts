export default async function globalTeardown(): Promise<void> {
  await globalThis.__LOAD_STATUS_REDIS__?.stop();
}
