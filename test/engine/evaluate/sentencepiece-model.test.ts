import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ggufTokenType, parseSentencePieceModel, PIECE_TYPE } from '../../../electron/engine/evaluate/sentencepiece-model.js';

const TOKENIZER = path.resolve(import.meta.dirname, '../../../build/demo/stories260K/tokenizer.model');

describe('parseSentencePieceModel', () => {
  it('reads every piece of the demo model with its score and type', () => {
    const pieces = parseSentencePieceModel(readFileSync(TOKENIZER), TOKENIZER);
    expect(pieces).toHaveLength(512);
    expect(pieces.slice(0, 4)).toEqual([
      { piece: '<unk>', score: 0, type: PIECE_TYPE.unknown },
      { piece: '<s>', score: 0, type: PIECE_TYPE.control },
      { piece: '</s>', score: 0, type: PIECE_TYPE.control },
      { piece: '<0x00>', score: 0, type: PIECE_TYPE.byte },
    ]);
    expect(pieces[258]).toMatchObject({ piece: '<0xFF>', type: PIECE_TYPE.byte });
    const normal = pieces.filter((piece) => piece.type === PIECE_TYPE.normal);
    expect(normal.length).toBe(512 - 3 - 256);
    // Normal pieces carry the merge order as negative scores, most frequent first.
    expect(normal[0]?.score).toBeGreaterThan(normal.at(-1)?.score ?? 0);
  });

  it('refuses a truncated model, naming the file', () => {
    const bytes = readFileSync(TOKENIZER);
    expect(() => parseSentencePieceModel(bytes.subarray(0, 100), 'x/tokenizer.model')).toThrow(
      expect.objectContaining({ code: 'InvalidTokenizer', path: 'x/tokenizer.model' }),
    );
    expect(() => parseSentencePieceModel(new Uint8Array(), 'empty/tokenizer.model')).toThrow(/no pieces/);
  });

  it('maps piece types to GGUF token types as llama.cpp does', () => {
    expect([1, 2, 3, 4, 5, 6].map(ggufTokenType)).toEqual([1, 2, 3, 1, 5, 6]);
  });
});
