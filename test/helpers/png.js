'use strict';
// A minimal PNG encoder for tests: exact control over bit depth, colour type and the header
// (including headers that lie about the image's size).
const zlib = require('zlib');

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

const CHANNELS = { 0: 1, 2: 3, 4: 2, 6: 4 };

/**
 * encodePng({ width, height, colorType: 0 grey | 2 rgb | 4 grey+alpha | 6 rgba, bitDepth: 8 | 16,
 *   data: row-major interleaved samples (0..255 or 0..65535) }) -> Buffer.
 * headerWidth / headerHeight override what IHDR claims (the pixel data stays as given).
 */
function encodePng({ width, height, colorType = 2, bitDepth = 8, data, headerWidth, headerHeight }) {
  const ch = CHANNELS[colorType];
  const bps = bitDepth / 8;
  const stride = width * ch * bps;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    for (let i = 0; i < width * ch; i++) {
      const v = data[y * width * ch + i];
      const at = y * (stride + 1) + 1 + i * bps;
      if (bitDepth === 16) raw.writeUInt16BE(v, at);
      else raw[at] = v;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(headerWidth ?? width, 0);
  ihdr.writeUInt32BE(headerHeight ?? height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  ihdr[10] = 0;
  ihdr[11] = 0;
  ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

module.exports = { encodePng, crc32 };
