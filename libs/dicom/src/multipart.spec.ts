import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { boundaryOf, MultipartError, multipartParts, type MultipartPart } from './multipart.js';

const BOUNDARY = 'b0undary-1234';

/** A body with a preamble, transport padding, and part bodies that hold near-misses of the delimiter. */
function body(parts: Buffer[], close = true): Buffer {
  const chunks: Buffer[] = [Buffer.from('preamble to ignore\r\n')];
  for (const p of parts)
    chunks.push(Buffer.from(`--${BOUNDARY}  \r\nContent-Type: application/dicom\r\nX-Part: ${p.length}\r\n\r\n`), p, Buffer.from('\r\n'));
  if (close) chunks.push(Buffer.from(`--${BOUNDARY}--\r\nepilogue`));
  return Buffer.concat(chunks);
}

async function* chunked(b: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield new Uint8Array(b.subarray(i, i + size));
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<MultipartPart[]> {
  const out: MultipartPart[] = [];
  for await (const p of multipartParts(source, BOUNDARY)) out.push(p);
  return out;
}

describe('multipart/related parsing', () => {
  const parts = [
    randomBytes(5000),
    Buffer.concat([Buffer.from(`\r\n--${BOUNDARY.slice(0, 5)}`), randomBytes(300), Buffer.from(`--${BOUNDARY}`)]),
    Buffer.alloc(0),
    randomBytes(70_000),
  ];

  it.each([1, 2, 3, 7, 17, 64, 4096, 1 << 20])('splits a body read in chunks of %i bytes into its parts, byte for byte', async (size) => {
    const got = await collect(chunked(body(parts), size));
    expect(got.map((p) => Buffer.from(p.body).equals(parts[got.indexOf(p)]))).toEqual(parts.map(() => true));
    expect(got.map((p) => p.headers['content-type'])).toEqual(parts.map(() => 'application/dicom'));
    expect(got.map((p) => p.headers['x-part'])).toEqual(parts.map((p) => String(p.length)));
  });

  it('fails when the body ends before its close delimiter (a cut connection), after yielding the complete parts', async () => {
    const got: MultipartPart[] = [];
    const run = async () => {
      for await (const p of multipartParts(chunked(body(parts, false).subarray(0, 6000), 1000), BOUNDARY)) got.push(p);
    };
    await expect(run()).rejects.toBeInstanceOf(MultipartError);
    expect(got.map((p) => p.body.length)).toEqual([5000, parts[1].length, 0]); // the 70 kB part was cut: never yielded
  });

  it('reads the boundary parameter, quoted or not', () => {
    expect(boundaryOf('multipart/related; type="application/dicom"; boundary="abc def"')).toBe('abc def');
    expect(boundaryOf('multipart/related;boundary=xyz;type=application/dicom')).toBe('xyz');
    expect(boundaryOf('application/dicom')).toBeUndefined();
  });
});
