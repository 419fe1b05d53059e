/**
 * Error codes that cross every front door (IPC, HTTP, CLI). safetensors' own names are used for
 * the format rules of DESIGN.md §3 so a user can look them up in the reference implementation.
 */
export const ERROR_CODES = [
  // safetensors, in the reference order of checks
  'HeaderTooSmall',
  'HeaderTooLarge',
  'InvalidHeaderLength',
  'InvalidHeader',
  'InvalidHeaderDeserialization',
  'InvalidOffset',
  'ValidationOverflow',
  'MisalignedSlice',
  'TensorInvalidInfo',
  'MetadataIncompleteBuffer',
  // sharded index
  'InvalidIndex',
  'UnsafeShardPath',
  'MissingShard',
  'TensorNotInShard',
  'DuplicateTensor',
  // checkpoints and configs
  'NotFound',
  'NotACheckpoint',
  'InvalidConfig',
  'UnsupportedDtype',
  // plans and YAML
  'InvalidPlan',
  'InvalidYaml',
  'UnsupportedMergeOption',
  // export
  'TargetExists',
  'TargetInsideSource',
  'ExportFailed',
  'Cancelled',
  'SourceChanged',
  'NoSpace',
  'PermissionDenied',
  'VerifyFailed',
  // evaluation in llama.cpp
  'EvaluationUnavailable',
  'EvaluationFailed',
  'EvaluationNeedsGguf',
  'InvalidTokenizer',
  // front doors
  'InvalidRequest',
  'Unauthorized',
  'Forbidden',
  'OutsideRoots',
  'NativeUnavailable',
  'Internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Plain-data form of an error, as it crosses IPC and HTTP. */
export interface StudioErrorData {
  code: ErrorCode;
  message: string;
  /** The file or path the error is about, when there is one. */
  path?: string;
  detail?: unknown;
}

/**
 * The one error type of DUS Studio. `message` names the problem in words a user understands;
 * `path` names the file it concerns, so front doors can print `error: <path>: <message>`.
 */
export class StudioError extends Error {
  readonly code: ErrorCode;
  readonly path: string | undefined;
  readonly detail: unknown;

  constructor(code: ErrorCode, message: string, options: { path?: string; detail?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StudioError';
    this.code = code;
    this.path = options.path;
    this.detail = options.detail;
  }

  toData(): StudioErrorData {
    const data: StudioErrorData = { code: this.code, message: this.message };
    if (this.path !== undefined) data.path = this.path;
    if (this.detail !== undefined) data.detail = this.detail;
    return data;
  }

  static fromData(data: StudioErrorData): StudioError {
    return new StudioError(data.code, data.message, { path: data.path, detail: data.detail });
  }
}

/** True for a thrown value that is a StudioError (also across module copies). */
export function isStudioError(value: unknown): value is StudioError {
  return value instanceof StudioError || (value instanceof Error && value.name === 'StudioError' && 'code' in value);
}
