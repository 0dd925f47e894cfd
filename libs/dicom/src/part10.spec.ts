import { describe, expect, it } from 'vitest';
import { Deidentifier } from './deidentify.js';
import { PIXEL_DATA, element, readPart10, writePart10, type Part10 } from './part10.js';
import { generateStudy } from './testing/studies.js';

const ct = [...generateStudy({ modality: 'CT', series: 1, instancesPerSeries: 2, framesPerInstance: 3, seed: 'part10-ct' }).instances()];
const mr = [...generateStudy({ modality: 'MR', series: 1, instancesPerSeries: 1, framesPerInstance: 4, seed: 'part10-mr' }).instances()];

const same = (instance: Part10) => {
  const fast = Buffer.from(writePart10(instance));
  const dcmjs = Buffer.from(writePart10(instance, { viaDcmjs: true }));
  expect(fast.length).toBe(dcmjs.length);
  expect(fast.equals(dcmjs)).toBe(true);
  return fast;
};

describe('writePart10', () => {
  it('writes native pixel data as one copy, byte for byte what dcmjs writes', () => {
    for (const bytes of [...ct, ...mr]) {
      const written = same(readPart10(bytes));
      expect(written.equals(Buffer.from(bytes))).toBe(true); // and the generator's own bytes (written by the same path)
    }
    const deid = new Deidentifier({ secret: 'part10-secret-0123456789' });
    for (const bytes of ct) {
      const r = deid.instance(bytes);
      if (!r.ok) throw new Error(r.refusal.reason);
      same(readPart10(r.bytes));
    }
  });

  it('does the same in implicit VR little endian', () => {
    const p = readPart10(ct[0]);
    p.meta['00020010'] = element('UI', ['1.2.840.10008.1.2']);
    const written = same(p);
    const back = readPart10(written);
    expect(
      Buffer.from(back.dataset[PIXEL_DATA].Value![0] as ArrayBuffer).equals(Buffer.from(p.dataset[PIXEL_DATA].Value![0] as ArrayBuffer)),
    ).toBe(true);
  });

  it('leaves to dcmjs what cannot be appended: attributes after the pixel data, an odd length', () => {
    const after = readPart10(ct[0]);
    after.dataset['FFFCFFFC'] = element('OB', [new Uint8Array([0, 0, 0, 0]).buffer]);
    same(after);
    const odd = readPart10(ct[0]);
    odd.dataset[PIXEL_DATA] = element('OB', [new Uint8Array([1, 2, 3]).buffer]);
    same(odd);
  });
});
