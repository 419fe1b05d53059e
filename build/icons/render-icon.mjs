#!/usr/bin/env node
/**
 * Draws the app icon (a layer stack: two copies of one model joined at a seam) as icon.svg and as
 * the 1024×1024 icon.png that electron-builder turns into .icns, .ico and the Linux icon set.
 * Rerun after changing the shapes: node build/icons/render-icon.mjs
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const SIZE = 1024;
const BACKGROUND = { x: 32, y: 32, width: 960, height: 960, radius: 200, color: [21, 23, 28] };
const BLUE = [79, 140, 255];
const ORANGE = [255, 159, 67];
const SEAM = [240, 242, 246];

// Eight layers, four from each copy, 64 px tall with 32 px gaps, centred; the seam sits between the halves.
const shapes = [];
for (let layer = 0; layer < 8; layer++) {
  const y = 136 + layer * 96 + (layer >= 4 ? 16 : 0);
  shapes.push({ x: 232, y, width: 560, height: 64, radius: 20, color: layer < 4 ? BLUE : ORANGE });
}
shapes.push({ x: 192, y: 506, width: 640, height: 12, radius: 6, color: SEAM });

function hex([r, g, b]) {
  return `#${[r, g, b].map((value) => value.toString(16).padStart(2, '0')).join('')}`;
}

function svg() {
  const rect = (shape) =>
    `  <rect x="${shape.x}" y="${shape.y}" width="${shape.width}" height="${shape.height}" rx="${shape.radius}" fill="${hex(shape.color)}"/>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}" viewBox="0 0 ${SIZE} ${SIZE}">`,
    rect(BACKGROUND),
    ...shapes.map(rect),
    '</svg>',
    '',
  ].join('\n');
}

function inside(shape, x, y) {
  const { radius } = shape;
  const cx = Math.min(Math.max(x, shape.x + radius), shape.x + shape.width - radius);
  const cy = Math.min(Math.max(y, shape.y + radius), shape.y + shape.height - radius);
  return x >= shape.x && x <= shape.x + shape.width && y >= shape.y && y <= shape.y + shape.height && (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2;
}

/** RGBA pixels with 4×4 supersampling for smooth edges; transparent outside the background. */
function pixels() {
  const data = Buffer.alloc(SIZE * SIZE * 4);
  const all = [BACKGROUND, ...shapes];
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const sum = [0, 0, 0, 0];
      for (let sy = 0; sy < 4; sy++) {
        for (let sx = 0; sx < 4; sx++) {
          const px = x + (sx + 0.5) / 4;
          const py = y + (sy + 0.5) / 4;
          let color = null;
          for (const shape of all) if (inside(shape, px, py)) color = shape.color;
          if (color === null) continue;
          sum[0] += color[0];
          sum[1] += color[1];
          sum[2] += color[2];
          sum[3] += 1;
        }
      }
      const offset = (y * SIZE + x) * 4;
      if (sum[3] === 0) continue;
      data[offset] = Math.round(sum[0] / sum[3]);
      data[offset + 1] = Math.round(sum[1] / sum[3]);
      data[offset + 2] = Math.round(sum[2] / sum[3]);
      data[offset + 3] = Math.round((sum[3] / 16) * 255);
    }
  }
  return data;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buffer) {
  let crc = 0xffffffff;
  for (const byte of buffer) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type, body) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

function png(rgba) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(SIZE, 0);
  header.writeUInt32BE(SIZE, 4);
  header[8] = 8; // bits per channel
  header[9] = 6; // RGBA
  const rows = Buffer.alloc(SIZE * (SIZE * 4 + 1));
  for (let y = 0; y < SIZE; y++) rgba.copy(rows, y * (SIZE * 4 + 1) + 1, y * SIZE * 4, (y + 1) * SIZE * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const folder = path.dirname(fileURLToPath(import.meta.url));
writeFileSync(path.join(folder, 'icon.svg'), svg());
writeFileSync(path.join(folder, 'icon.png'), png(pixels()));
console.log(`wrote ${path.join(folder, 'icon.svg')} and icon.png (${SIZE}×${SIZE})`);
