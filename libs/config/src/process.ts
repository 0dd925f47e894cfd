/**
 * Apps started by `npm start` get an IPC channel to the launcher: when it goes away (Ctrl-C, or the launcher
 * was killed), the app closes itself, so nothing is left running.
 */
export function exitWithParent(app: { close(): Promise<void> }): void {
  if (!process.send) return;
  const close = () => void app.close().finally(() => process.exit(0));
  // the launcher may have let go while this app was still starting (a stop during start-up)
  if (!process.connected) return close();
  process.on('disconnect', close);
}
