import { StudioError } from '../../api/errors.js';
import type { OutputTensor } from './output-tensors.js';

/** huggingface_hub's default largest shard: 5 GB in decimal bytes. */
export const DEFAULT_SHARD_SIZE = 5_000_000_000;

/** The name transformers loads when there is one shard (and no index). */
export const SINGLE_SHARD_NAME = 'model.safetensors';

export interface PlannedShard {
  /** File name inside the export folder. */
  file: string;
  /** In natural order (the layout inside the file is the writer's alignment order). */
  tensors: OutputTensor[];
  /** Sum of the tensors' data bytes (headers not counted, as huggingface_hub counts). */
  dataBytes: number;
}

/** `model-00001-of-00003.safetensors`: 1-based, both numbers zero-padded to 5 digits, as transformers names shards. */
export function shardFileName(index: number, count: number): string {
  if (count === 1) return SINGLE_SHARD_NAME;
  const pad = (value: number): string => String(value).padStart(5, '0');
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/**
 * Splits tensors into shards of at most `shardSize` data bytes, keeping their order, as
 * huggingface_hub's `split_torch_state_dict_into_shards` does: a tensor that would overflow the
 * current shard starts a new one; a tensor larger than the limit gets a shard of its own.
 */
export function planShards(tensors: readonly OutputTensor[], shardSize: number = DEFAULT_SHARD_SIZE): PlannedShard[] {
  if (!Number.isSafeInteger(shardSize) || shardSize <= 0) {
    throw new StudioError('InvalidRequest', `the shard size must be a positive whole number of bytes, not ${shardSize}`);
  }
  const groups: OutputTensor[][] = [];
  let current: OutputTensor[] = [];
  let currentBytes = 0;
  for (const tensor of tensors) {
    if (current.length > 0 && currentBytes + tensor.bytes > shardSize) {
      groups.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(tensor);
    currentBytes += tensor.bytes;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);
  return groups.map((group, index) => ({
    file: shardFileName(index, groups.length),
    tensors: group,
    dataBytes: group.reduce((sum, tensor) => sum + tensor.bytes, 0),
  }));
}
