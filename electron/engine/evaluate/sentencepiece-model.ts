/**
 * Reads the vocabulary of a SentencePiece `tokenizer.model` (a protobuf ModelProto): each piece's
 * text, score and type. Only what a GGUF vocabulary needs; every length is checked against the
 * buffer, so a hostile file ends in a named error.
 */
import { StudioError } from '../../api/errors.js';

/** SentencePiece's piece types; GGUF's tokenizer.ggml.token_type uses the same numbers. */
export const PIECE_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export interface SentencePiece {
  piece: string;
  score: number;
  type: number;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

class ProtobufReader {
  offset: number;
  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
    private readonly fail: (problem: string) => never,
  ) {
    this.offset = start;
  }

  get done(): boolean {
    return this.offset >= this.end;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let index = 0; index < 10; index += 1) {
      if (this.offset >= this.end) this.fail('a number runs past the end of its message');
      const byte = this.bytes[this.offset++] as number;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
      scale *= 128;
    }
    return this.fail('a number is longer than ten bytes');
  }

  take(length: number): { start: number; end: number } {
    if (length > this.end - this.offset) this.fail('a field runs past the end of its message');
    const start = this.offset;
    this.offset += length;
    return { start, end: this.offset };
  }

  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_FIXED64) this.take(8);
    else if (wireType === WIRE_LENGTH_DELIMITED) this.take(this.varint());
    else if (wireType === WIRE_FIXED32) this.take(4);
    else this.fail(`unknown protobuf wire type ${wireType}`);
  }
}

/** Parses the pieces of a ModelProto (field 1, repeated SentencePiece {1: piece, 2: score, 3: type}). */
export function parseSentencePieceModel(bytes: Uint8Array, filePath: string): SentencePiece[] {
  const fail = (problem: string): never => {
    throw new StudioError('InvalidTokenizer', `tokenizer.model is not a SentencePiece model: ${problem}`, { path: filePath });
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const model = new ProtobufReader(bytes, 0, bytes.byteLength, fail);
  const pieces: SentencePiece[] = [];
  while (!model.done) {
    const key = model.varint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field !== 1) {
      model.skip(wireType);
      continue;
    }
    if (wireType !== WIRE_LENGTH_DELIMITED) fail('a piece is not a message');
    const span = model.take(model.varint());
    const reader = new ProtobufReader(bytes, span.start, span.end, fail);
    let piece: string | null = null;
    let score = 0;
    let type: number = PIECE_TYPE.normal;
    while (!reader.done) {
      const pieceKey = reader.varint();
      const pieceField = Math.floor(pieceKey / 8);
      const pieceWire = pieceKey % 8;
      if (pieceField === 1 && pieceWire === WIRE_LENGTH_DELIMITED) {
        const text = reader.take(reader.varint());
        try {
          piece = decoder.decode(bytes.subarray(text.start, text.end));
        } catch {
          fail(`piece ${pieces.length} is not UTF-8`);
        }
      } else if (pieceField === 2 && pieceWire === WIRE_FIXED32) {
        score = view.getFloat32(reader.take(4).start, true);
      } else if (pieceField === 3 && pieceWire === WIRE_VARINT) {
        type = reader.varint();
      } else {
        reader.skip(pieceWire);
      }
    }
    if (piece === null) fail(`piece ${pieces.length} has no text`);
    pieces.push({ piece: piece as string, score, type });
  }
  if (pieces.length === 0) fail('it holds no pieces');
  return pieces;
}

/**
 * The GGUF token type of a piece as llama.cpp's SentencePiece converter assigns it: unknown,
 * control, unused and byte pieces keep their type; everything else (user-defined too) is normal.
 */
export function ggufTokenType(pieceType: number): number {
  switch (pieceType) {
    case PIECE_TYPE.unknown:
    case PIECE_TYPE.control:
    case PIECE_TYPE.unused:
    case PIECE_TYPE.byte:
      return pieceType;
    default:
      return PIECE_TYPE.normal;
  }
}
