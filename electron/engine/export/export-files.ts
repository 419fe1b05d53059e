import { CONFIG_FILE_NAME } from '../checkpoint/model-config.js';
import { isSideFileName } from '../checkpoint/side-files.js';
import { INDEX_FILE_NAME } from '../formats/safetensors-index.js';
import { SINGLE_SHARD_NAME } from './shard-plan.js';

/**
 * The files an export consists of, named once: the exporter writes exactly these, verify reads
 * them back, and replacing a folder is allowed only when it holds nothing else.
 */

/** The model card every export carries. */
export const MODEL_CARD_FILE_NAME = 'README.md';

/** The plan file every export carries (mergekit YAML with absolute model paths), read back by verify. */
export const PLAN_FILE_NAME = 'mergekit_config.yml';

/** `model-00001-of-00003.safetensors`, as shardFileName writes it (and as transformers names shards). */
const SHARD_NAME = /^model-\d{5}-of-\d{5}\.safetensors$/;

/** True for a name that holds model weights: the single shard, a numbered shard or the index. */
export function isWeightsFileName(name: string): boolean {
  return name === SINGLE_SHARD_NAME || name === INDEX_FILE_NAME || SHARD_NAME.test(name);
}

/**
 * True for a file name a model export holds: weights (model.safetensors, model-NNNNN-of-NNNNN
 * shards, model.safetensors.index.json), config.json, the side files a model carries (tokenizer,
 * chat template, generation and processor configs, `*.tiktoken`), README.md and mergekit_config.yml.
 */
export function isExportFileName(name: string): boolean {
  return isWeightsFileName(name) || name === CONFIG_FILE_NAME || name === MODEL_CARD_FILE_NAME || name === PLAN_FILE_NAME || isSideFileName(name);
}
