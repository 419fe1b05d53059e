import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSideFileName, listSideFiles } from '../../../electron/engine/checkpoint/side-files.js';
import { isExportFileName } from '../../../electron/engine/export/export-files.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('listSideFiles', () => {
  it('lists tokenizer, template and generation files, sorted, and nothing else', async () => {
    const folder = path.join(dir, 'model');
    await mkdir(folder);
    const sideFiles = [
      'tokenizer.json',
      'tokenizer.model',
      'tokenizer_config.json',
      'special_tokens_map.json',
      'added_tokens.json',
      'vocab.json',
      'vocab.txt',
      'merges.txt',
      'spiece.model',
      'cl100k_base.tiktoken',
      'chat_template.jinja',
      'chat_template.json',
      'generation_config.json',
      'preprocessor_config.json',
      'processor_config.json',
    ];
    const others = ['config.json', 'model.safetensors', 'README.md', 'model.safetensors.index.json', '.tiktoken', 'pytorch_model.bin'];
    for (const name of [...sideFiles, ...others]) await writeFile(path.join(folder, name), '{}');
    await mkdir(path.join(folder, 'vocab.txt.d'));
    await mkdir(path.join(folder, 'merges.txt.folder'));
    expect(await listSideFiles(folder)).toEqual([...sideFiles].sort());
  });

  it('follows links to files, as in the Hugging Face cache, and skips dangling links and folders', async () => {
    const folder = path.join(dir, 'snapshot');
    const blobs = path.join(dir, 'blobs');
    await mkdir(folder);
    await mkdir(blobs);
    await writeFile(path.join(blobs, 'abc123'), '{}');
    await symlink(path.join(blobs, 'abc123'), path.join(folder, 'tokenizer.json'));
    await symlink(path.join(blobs, 'missing'), path.join(folder, 'tokenizer_config.json'));
    await symlink(blobs, path.join(folder, 'vocab.json'));
    expect(await listSideFiles(folder)).toEqual(['tokenizer.json']);
  });

  it('names side files by their exact names', () => {
    expect(isSideFileName('o200k_base.tiktoken')).toBe(true);
    expect(isSideFileName('Tokenizer.json')).toBe(false);
    expect(isSideFileName('tokenizer.json.bak')).toBe(false);
  });

  it('copies every file mergekit\'s _copy_tokenizer copies (merge.py)', () => {
    const mergekitCopies = [
      'tokenizer_config.json',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer.model',
      'added_tokens.json',
      'merges.txt',
      'chat_template.jinja',
      'generation_config.json',
      'chat_template.json',
      'video_preprocessor_config.json',
    ];
    expect(mergekitCopies.filter((name) => !isSideFileName(name))).toEqual([]);
  });

  it('copies every tagalong file of mergekit\'s architecture JSONs (merge.py _copy_tagalong_files, _data/architectures/*.json)', () => {
    // gemma3vl, llama4, mistral3: preprocessor/processor configs; qwen2(_5)/qwen3 VL: vocab.json; whisper: normalizer.json.
    const tagalong = ['preprocessor_config.json', 'processor_config.json', 'vocab.json', 'normalizer.json'];
    expect(tagalong.filter((name) => !isSideFileName(name))).toEqual([]);
    // export-files.ts counts them as part of a previous export, so --replace recognises one that carries them.
    expect(tagalong.filter((name) => !isExportFileName(name))).toEqual([]);
  });

  it('reports a missing folder as NotFound', async () => {
    await expect(listSideFiles(path.join(dir, 'absent'))).rejects.toMatchObject({ code: 'NotFound' });
  });
});
