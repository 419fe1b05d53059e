import path from 'node:path';
import { StudioError } from '../../api/errors.js';

/**
 * Turns a Node file-system failure into a StudioError with a user-facing code. `what` says what
 * the file was meant to be ("safetensors file", "index file") so the message reads naturally.
 */
export function fileSystemError(error: unknown, filePath: string, what: string): StudioError {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const name = path.basename(filePath);
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new StudioError('NotFound', `${name}: the ${what} does not exist`, { path: filePath, cause: error });
    // Paths no file can be behind: a cycle of symbolic links, a name longer than the file system allows.
    case 'ELOOP':
      return new StudioError('NotFound', `${name}: the ${what} cannot be opened: its symbolic links go round in a loop`, { path: filePath, cause: error });
    case 'ENAMETOOLONG':
      return new StudioError('NotFound', `${name}: the ${what} cannot exist: its path is too long for the file system`, { path: filePath, cause: error });
    case 'EACCES':
    case 'EPERM':
      return new StudioError('PermissionDenied', `${name}: no permission to read the ${what}`, { path: filePath, cause: error });
    case 'EISDIR':
      return new StudioError('NotACheckpoint', `${name}: expected a ${what} but found a folder`, { path: filePath, cause: error });
    default: {
      const reason = error instanceof Error ? error.message : String(error);
      return new StudioError('Internal', `${name}: could not read the ${what} (${reason}); please report this`, {
        path: filePath,
        cause: error,
      });
    }
  }
}
