/** One part of a multipart/related body: its headers (lower-case names) and its bytes. */
export interface MultipartPart {
  headers: Record<string, string>;
  body: Uint8Array;
}

/** The boundary parameter of a multipart Content-Type, or undefined. */
export function boundaryOf(contentType: string | null): string | undefined {
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  return m ? (m[1] ?? m[2]) : undefined;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 16 * 1024;

export class MultipartError extends Error {}

/**
 * Splits a multipart body (RFC 2046) into its parts as the bytes arrive: it holds the part being received and at
 * most a delimiter's length more, so a study of any size is read one instance at a time.
 */
export async function* multipartParts(body: AsyncIterable<Uint8Array>, boundary: string): AsyncGenerator<MultipartPart> {
  // the first delimiter may open the body without a preceding CRLF: start as if one had been received
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  let buf: Buffer = Buffer.from(CRLF);
  let state: 'preamble' | 'after-delimiter' | 'headers' | 'body' = 'preamble';
  let headers: Record<string, string> = {};
  let bodyChunks: Buffer[] = [];
  for await (const chunk of body) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (;;) {
      if (state === 'preamble' || state === 'body') {
        const at = buf.indexOf(delimiter);
        if (at < 0) {
          // keep what could be the start of a delimiter split across chunks
          const keep = Math.min(buf.length, delimiter.length - 1);
          if (state === 'body' && buf.length > keep) bodyChunks.push(buf.subarray(0, buf.length - keep));
          buf = Buffer.from(buf.subarray(buf.length - keep));
          break;
        }
        if (state === 'body') {
          bodyChunks.push(buf.subarray(0, at));
          const part = Buffer.concat(bodyChunks);
          bodyChunks = [];
          yield { headers, body: new Uint8Array(part.buffer, part.byteOffset, part.byteLength) };
        }
        buf = buf.subarray(at + delimiter.length);
        state = 'after-delimiter';
      } else if (state === 'after-delimiter') {
        if (buf.length < 2) break;
        if (buf[0] === 0x2d && buf[1] === 0x2d) return; // "--": the close delimiter
        const eol = buf.indexOf(CRLF);
        if (eol < 0) {
          if (buf.length > MAX_HEADER_BYTES) throw new MultipartError('malformed multipart body: no line end after a delimiter');
          break;
        }
        buf = buf.subarray(eol + 2);
        state = 'headers';
      } else {
        if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) {
          headers = {};
          buf = buf.subarray(2);
          state = 'body';
          continue;
        }
        const end = buf.indexOf(HEADER_END);
        if (end < 0) {
          if (buf.length > MAX_HEADER_BYTES) throw new MultipartError('malformed multipart body: part headers too long');
          break;
        }
        headers = parseHeaders(buf.subarray(0, end).toString('latin1'));
        buf = buf.subarray(end + 4);
        state = 'body';
      }
    }
  }
  throw new MultipartError('the multipart body ended before its close delimiter');
}

function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}
