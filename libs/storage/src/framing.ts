/**
 * A study's byte stream as storeStudy takes it: its de-identified instances one after the other, each framed as
 * length (8 bytes, big-endian) ‖ bytes. One stream per study keeps chunks full whatever the instance sizes, and the
 * frames give the instances back whole on the reader's side.
 */
const LENGTH = 8;

export async function* frameInstances(instances: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const instance of instances) {
    const header = Buffer.alloc(LENGTH);
    header.writeBigUInt64BE(BigInt(instance.length));
    yield header;
    yield instance;
  }
}

/** Thrown when a study stream ends inside a frame. */
export class FramingError extends Error {
  constructor() {
    super('the study stream ends inside an instance');
  }
}

/** Gives back each instance of a framed study stream (holding one instance at a time). */
export async function* unframeInstances(stream: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  let header: Buffer = Buffer.alloc(0);
  let body: Buffer | null = null; // the instance being filled, once its header is read
  let filled = 0;
  for await (const piece of stream) {
    let data: Buffer = typeof piece === 'string' ? Buffer.from(piece) : piece;
    while (data.length > 0) {
      if (body === null) {
        const take = Math.min(LENGTH - header.length, data.length);
        header = Buffer.concat([header, data.subarray(0, take)]);
        data = data.subarray(take);
        if (header.length < LENGTH) break;
        const length = header.readBigUInt64BE();
        if (length > BigInt(Number.MAX_SAFE_INTEGER)) throw new FramingError();
        header = Buffer.alloc(0);
        body = Buffer.allocUnsafe(Number(length));
        filled = 0;
      }
      const n = Math.min(body.length - filled, data.length);
      data.copy(body, filled, 0, n);
      filled += n;
      data = data.subarray(n);
      if (filled === body.length) {
        yield body;
        body = null;
      }
    }
  }
  if (body !== null || header.length > 0) throw new FramingError();
}
