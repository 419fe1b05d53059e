/**
 * A random job id (`<prefix>-` and 32 hex digits), chosen in the window so it can cancel the job
 * (`cancelJob`) and match its events. getRandomValues works in insecure contexts (serve mode opened
 * on a LAN address) where randomUUID does not.
 */
export function newJobId(prefix: string): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return `${prefix}-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}
