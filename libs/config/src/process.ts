/**
 * Apps started by `npm start` get an IPC channel to the launcher: when it goes away (Ctrl-C, or the launcher
 * was killed), the app closes itself, so nothing is left running.
 */
export function exitWithParent(app: { close(): Promise<void> }): void {
  if (!process.send) return;
  process.on('disconnect', () => {
    void app.close().finally(() => process.exit(0));
  });
}
