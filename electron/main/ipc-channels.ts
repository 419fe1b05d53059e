/**
 * IPC channel names shared by the main process and the preload. No imports: the sandboxed preload
 * bundles this file, and the main process must agree with it to the letter.
 */

/** Prefix of the one `invoke` channel per API method: `studio:openCheckpoint`, … */
export const STUDIO_CHANNEL_PREFIX = 'studio:';

/** Main → renderer: engine and menu events, each message `{ event, payload }`. */
export const STUDIO_EVENT_CHANNEL = 'studio:event';

/** Desktop-only requests that have no place in the API (the browser has no native dialogs). */
export const DESKTOP_CHANNELS = {
  openCheckpointDialog: 'dialog:openCheckpoint',
  chooseExportFolder: 'dialog:chooseExportFolder',
  chooseExportFile: 'dialog:chooseExportFile',
  revealPath: 'shell:revealPath',
} as const;

export type DesktopChannel = (typeof DESKTOP_CHANNELS)[keyof typeof DESKTOP_CHANNELS];

/** The invoke channel of one API method. */
export function studioChannel(method: string): string {
  return STUDIO_CHANNEL_PREFIX + method;
}
