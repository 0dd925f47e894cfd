import { randomUUID } from 'node:crypto';
import { boundaryOf, MultipartError, multipartParts } from './multipart.js';

/** DICOM JSON (PS3.18 F.2): attributes by tag, each with its VR and values. */
export type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;

/** A closed code and a sentence for the person; PACS_UNAVAILABLE is retryable (the PACS is down or cut off). */
export type DicomWebErrorCode = 'PACS_UNAVAILABLE' | 'PACS_NOT_FOUND' | 'PACS_REFUSED';

export class DicomWebError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly code: DicomWebErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DicomWebError';
    this.retryable = code === 'PACS_UNAVAILABLE';
  }
}

export interface DicomWebOptions {
  /** the DICOMweb root, e.g. http://pacs:8042/dicom-web (Orthanc's plugin) */
  url: string;
  /** sent as Authorization (e.g. "Basic …" or "Bearer …") when the PACS asks for one */
  authorization?: string;
  /** ms (default 30 s) for a whole QIDO-RS search, and for each wait of a WADO-RS retrieval (its headers, then each chunk) */
  timeoutMs?: number;
}

/** QIDO-RS matching keys (keyword → value), e.g. { PatientID: 'MRN-1', StudyDate: '20260101-20261231' }. */
export type QidoQuery = Record<string, string | number>;

const tagValue = (json: DicomJson, tag: string): string | undefined => {
  const v = json[tag]?.Value?.[0];
  return v === undefined ? undefined : String(v);
};

export interface StudyRef {
  studyInstanceUid: string;
  /** the PACS's answer as is (the RO's own data: identifying, never to be sent on) */
  attributes: DicomJson;
}
export interface SeriesRef extends StudyRef {
  seriesInstanceUid: string;
}
export interface InstanceRef extends SeriesRef {
  sopInstanceUid: string;
}

/**
 * A DICOMweb client for the RO's PACS: QIDO-RS to find studies, series and instances, WADO-RS to retrieve instances
 * as multipart/related application/dicom, yielded one instance at a time as the response streams in.
 */
export class DicomWebClient {
  private readonly root: string;

  constructor(private readonly options: DicomWebOptions) {
    this.root = options.url.replace(/\/+$/, '');
  }

  async findStudies(query: QidoQuery = {}): Promise<StudyRef[]> {
    const rows = await this.qido('/studies', query);
    return rows.flatMap((attributes) => {
      const studyInstanceUid = tagValue(attributes, '0020000D');
      return studyInstanceUid ? [{ studyInstanceUid, attributes }] : [];
    });
  }

  async findSeries(studyInstanceUid: string, query: QidoQuery = {}): Promise<SeriesRef[]> {
    const rows = await this.qido(`/studies/${uidPath(studyInstanceUid)}/series`, query);
    return rows.flatMap((attributes) => {
      const seriesInstanceUid = tagValue(attributes, '0020000E');
      return seriesInstanceUid ? [{ studyInstanceUid, seriesInstanceUid, attributes }] : [];
    });
  }

  async findInstances(studyInstanceUid: string, seriesInstanceUid: string, query: QidoQuery = {}): Promise<InstanceRef[]> {
    const rows = await this.qido(`/studies/${uidPath(studyInstanceUid)}/series/${uidPath(seriesInstanceUid)}/instances`, query);
    return rows.flatMap((attributes) => {
      const sopInstanceUid = tagValue(attributes, '00080018');
      return sopInstanceUid ? [{ studyInstanceUid, seriesInstanceUid, sopInstanceUid, attributes }] : [];
    });
  }

  /** Every instance of a study (WADO-RS), each a Part-10 buffer, one at a time. */
  retrieveStudy(studyInstanceUid: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    return this.wado(`/studies/${uidPath(studyInstanceUid)}`, signal);
  }

  retrieveSeries(studyInstanceUid: string, seriesInstanceUid: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    return this.wado(`/studies/${uidPath(studyInstanceUid)}/series/${uidPath(seriesInstanceUid)}`, signal);
  }

  retrieveInstance(ref: Omit<InstanceRef, 'attributes'>, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    return this.wado(
      `/studies/${uidPath(ref.studyInstanceUid)}/series/${uidPath(ref.seriesInstanceUid)}/instances/${uidPath(ref.sopInstanceUid)}`,
      signal,
    );
  }

  /**
   * Stores Part-10 instances in the PACS (STOW-RS: one multipart/related application/dicom POST), under
   * `studyInstanceUid` when given (the PACS then refuses instances of another study). Resolves with the SOP instance
   * UIDs the PACS confirmed; any instance it did not store is PACS_REFUSED. The instances are sent as given: only
   * the RO's own data goes to its own PACS.
   */
  async storeInstances(instances: readonly Uint8Array[], studyInstanceUid?: string): Promise<string[]> {
    const boundary = `openread-${randomUUID()}`;
    const parts: Uint8Array[] = [];
    for (const bytes of instances) {
      parts.push(Buffer.from(`\r\n--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), bytes);
    }
    parts.push(Buffer.from(`\r\n--${boundary}--\r\n`));
    const url = new URL(this.root + (studyInstanceUid ? `/studies/${uidPath(studyInstanceUid)}` : '/studies'));
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          accept: 'application/dicom+json',
          'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
          ...(this.options.authorization ? { authorization: this.options.authorization } : {}),
        },
        body: Buffer.concat(parts),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch {
      throw new DicomWebError(
        'PACS_UNAVAILABLE',
        'The PACS (DICOMweb) cannot be reached to store; check DICOMWEB_URL and that it is running.',
      );
    }
    let body: DicomJson | undefined;
    try {
      const text = await res.text();
      const parsed = text ? (JSON.parse(text) as unknown) : undefined;
      body = (Array.isArray(parsed) ? parsed[0] : parsed) as DicomJson | undefined;
    } catch {
      body = undefined;
    }
    if (res.status >= 500 || res.status === 429 || res.status === 408)
      throw new DicomWebError('PACS_UNAVAILABLE', `The PACS answered ${res.status} to a store; try again later.`);
    const sops = (tag: string) =>
      ((body?.[tag]?.Value ?? []) as DicomJson[]).map((item) => tagValue(item, '00081155')).filter((v): v is string => !!v);
    const failed = sops('00081198');
    if (!res.ok || failed.length > 0 || (body?.['00081198']?.Value?.length ?? 0) > 0)
      throw new DicomWebError('PACS_REFUSED', `The PACS refused to store ${failed.length || 'the'} instance(s) (${res.status}).`);
    return sops('00081199');
  }

  private async qido(path: string, query: QidoQuery): Promise<DicomJson[]> {
    const url = new URL(this.root + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v));
    // a search answer is small: one deadline for the whole exchange
    const { res, done } = await this.request(url, 'application/dicom+json', AbortSignal.timeout(this.timeoutMs));
    try {
      if (res.status === 204) return [];
      const body = (await res.json()) as unknown;
      if (!Array.isArray(body)) throw new Error('not an array');
      return body as DicomJson[];
    } catch {
      throw new DicomWebError('PACS_UNAVAILABLE', 'The PACS answered the search with something that is not DICOM JSON; try again later.');
    } finally {
      done();
    }
  }

  private async *wado(path: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const { res, idle, done } = await this.request(
      new URL(this.root + path),
      'multipart/related; type="application/dicom"; transfer-syntax=*',
      signal,
    );
    try {
      const boundary = boundaryOf(res.headers.get('content-type'));
      if (!res.body || !boundary)
        throw new DicomWebError('PACS_UNAVAILABLE', 'The PACS answered the retrieval without a multipart body; try again later.');
      const body = res.body;
      // a study takes as long as it takes; a PACS that sends nothing for timeoutMs while we wait for it is cut off
      // (the timer runs only while waiting: a consumer that takes its time with an instance is not the PACS stalling)
      const watched = async function* () {
        for await (const chunk of body) {
          idle(false);
          yield chunk;
          idle(true);
        }
      };
      for await (const part of multipartParts(watched(), boundary)) {
        const type = part.headers['content-type'] ?? 'application/dicom';
        if (!type.toLowerCase().startsWith('application/dicom')) continue;
        yield part.body;
      }
    } catch (e) {
      if (e instanceof DicomWebError) throw e;
      if (
        e instanceof MultipartError ||
        (e as Error).name === 'TypeError' ||
        (e as Error).name === 'AbortError' ||
        (e as Error).name === 'TimeoutError'
      ) {
        throw new DicomWebError('PACS_UNAVAILABLE', 'The PACS connection broke or stalled during the retrieval; try again.');
      }
      throw e;
    } finally {
      done();
    }
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? 30_000;
  }

  /**
   * Sends a GET; the answer's headers must come within timeoutMs. `idle(true)` restarts that timer (waiting for the
   * next chunk of a streamed body), `idle(false)` stops it, `done()` stops it and releases the connection.
   */
  private async request(
    url: URL,
    accept: string,
    signal?: AbortSignal,
  ): Promise<{ res: Response; idle: (waiting: boolean) => void; done: () => void }> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const idle = (waiting = true) => {
      clearTimeout(timer);
      if (waiting)
        timer = setTimeout(() => controller.abort(new DOMException('the PACS sent nothing in time', 'TimeoutError')), this.timeoutMs);
    };
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (!controller.signal.aborted) controller.abort();
    };
    idle();
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { accept, ...(this.options.authorization ? { authorization: this.options.authorization } : {}) },
        signal: controller.signal,
      });
    } catch {
      done();
      throw new DicomWebError('PACS_UNAVAILABLE', 'The PACS (DICOMweb) cannot be reached; check DICOMWEB_URL and that it is running.');
    }
    if (res.ok) return { res, idle, done };
    done();
    if (res.status === 404) throw new DicomWebError('PACS_NOT_FOUND', 'The PACS has no such study, series or instance.');
    if (res.status >= 500 || res.status === 429 || res.status === 408)
      throw new DicomWebError('PACS_UNAVAILABLE', `The PACS answered ${res.status}; try again later.`);
    throw new DicomWebError('PACS_REFUSED', `The PACS refused the request (${res.status}); check the DICOMweb URL and credentials.`);
  }
}

/** A UID as a path segment (UIDs are digits and dots; anything else is refused rather than sent). */
function uidPath(uid: string): string {
  if (!/^[0-9.]{1,64}$/.test(uid)) throw new DicomWebError('PACS_REFUSED', 'Not a DICOM UID.');
  return uid;
}
