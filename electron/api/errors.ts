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
  // GGUF (ggml's gguf.cpp rules)
  'GgufBadMagic',
  'GgufUnsupportedVersion',
  'GgufTruncated',
  'GgufInvalidValue',
  'GgufUnknownType',
  'GgufDuplicateKey',
  'GgufWrongKeyType',
  'GgufInvalidTensorInfo',
  'GgufInvalidOffset',
  'GgufInvalidSplit',
  'MixedFormats',
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
  'TargetNotExport',
  'ProtectedTarget',
  'TargetChanged',
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

/** Codes of the problems plan validation reports (PlanProblem.code) beside the error codes above. */
export const PLAN_PROBLEM_CODES = [
  'EmptyPlan',
  'NoDecoderLayers',
  'ArchitectureMismatch',
  'EmptySlice',
  'ReversedSlice',
  'NonIntegerRange',
  'RangeOutsideModel',
  'SourceNotOpen',
  'MissingLayer',
  'LayerRepeated',
  'GapInSplice',
  'HiddenSizeMismatch',
  'VocabMismatch',
  'FamilyMismatch',
  'TiedMismatch',
  'LayerTensorsMismatch',
  'DtypeMismatch',
  'ShapeMismatch',
  'ScaleOnNonFloat',
  'InvalidScale',
  'MtpDropped',
  // The app's own problem when the engine could not resolve the plan at all.
  'ResolveFailed',
] as const;

/** Codes of the problems verify reports (VerifyProblem.code) beside the error codes above. */
export const VERIFY_PROBLEM_CODES = [
  'MissingPlan',
  'SourceUnavailable',
  'SetAside',
  /** A GGUF export (or split set) whose move into place a kill cut short: some files are still in its temporary folder. */
  'InterruptedCommit',
  'StrayWeights',
  'MissingWeights',
  'NotPtFormat',
  'Misaligned',
  'IndexTotalSize',
  'IndexMismatch',
  'MissingTensor',
  'DtypeMismatch',
  'ShapeMismatch',
  'UnexpectedTensor',
  'TensorBytesDiffer',
  'ConfigMismatch',
] as const;

/**
 * Every code a problem may carry: an error code (a problem can be a caught StudioError) or one of
 * the plan and verify problem codes. One union, so a front door can switch on any of them.
 */
export type ProblemCode = ErrorCode | (typeof PLAN_PROBLEM_CODES)[number] | (typeof VERIFY_PROBLEM_CODES)[number];

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

/**
 * The failure envelope both binders (IPC and HTTP) answer with: a StudioError as its data; anything
 * else is a bug, reported to `onInternal` (with its stack, for the log) and sent as `Internal`
 * without internals.
 */
export function toEnvelope(error: unknown, where: string, onInternal?: (error: unknown) => void): { ok: false; error: StudioErrorData } {
  if (isStudioError(error)) return { ok: false, error: error.toData() };
  onInternal?.(error);
  const reason = error instanceof Error ? error.message : String(error);
  return { ok: false, error: { code: 'Internal', message: `Internal error in ${where}: ${reason}. This is a bug; please report it.` } };
}

/** True for a thrown value that is a StudioError (also across module copies). */
export function isStudioError(value: unknown): value is StudioError {
  return value instanceof StudioError || (value instanceof Error && value.name === 'StudioError' && 'code' in value);
}
