import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConnectorError } from './errors.js';

/**
 * The link from a shared (de-identified) study back to the RO's original: every de-identified UID of the study and
 * the original it replaced. It identifies the patient's study, so it stays with the RO (ReidentificationStore) and is
 * never sent anywhere: the marketplace, the chain and the blob store see only the de-identified side.
 */
export interface ReidentificationMap {
  version: 1;
  /** the marketplace's study ID the shared copy was stored under */
  studyId: string;
  study: UidPair;
  series: (UidPair & { instances: (UidPair & { sopClassUid: string })[] })[];
}

export interface UidPair {
  deidentified: string;
  original: string;
}

/** Builds the map as instances stream past (a few UIDs per instance, never the instances). */
export class ReidentificationMapBuilder {
  private readonly series = new Map<string, ReidentificationMap['series'][number]>();

  constructor(
    private readonly studyId: string,
    private readonly study: UidPair,
  ) {}

  add(series: UidPair, instance: UidPair & { sopClassUid: string }): void {
    let s = this.series.get(series.deidentified);
    if (!s) {
      s = { ...series, instances: [] };
      this.series.set(series.deidentified, s);
    }
    s.instances.push(instance);
  }

  result(): ReidentificationMap {
    return { version: 1, studyId: this.studyId, study: { ...this.study }, series: [...this.series.values()] };
  }
}

/** The original of a de-identified UID (study, series or instance) of this map, or undefined. */
export function originalUidOf(map: ReidentificationMap, deidentified: string): string | undefined {
  if (map.study.deidentified === deidentified) return map.study.original;
  for (const s of map.series) {
    if (s.deidentified === deidentified) return s.original;
    const i = s.instances.find((x) => x.deidentified === deidentified);
    if (i) return i.original;
  }
  return undefined;
}

/**
 * Where the RO keeps its re-identification maps: one file per shared study in a directory only the RO's connector
 * reads (created 0700, files 0600), written to a temporary file, flushed and renamed (a reader sees a whole map or
 * none). It is the RO's own record, like its PACS; back it up with the PACS, never publish it.
 */
export class FsReidentificationStore {
  private readonly deadlineMs: number;

  /** `deadlineMs` (default 30 s): how long one save or load may take before it is REIDENTIFICATION_UNAVAILABLE */
  constructor(private readonly options: { dir: string; deadlineMs?: number }) {
    this.deadlineMs = options.deadlineMs ?? 30_000;
  }

  private pathOf(studyId: string): string {
    // a marketplace study ID is 0x + 64 hex digits; anything else must not become a path
    if (!/^[0-9a-zA-Z]{1,130}$/.test(studyId)) throw new RangeError('a study ID is letters and digits');
    return join(this.options.dir, `${studyId.toLowerCase()}.json`);
  }

  async save(map: ReidentificationMap): Promise<void> {
    const path = this.pathOf(map.studyId);
    await this.io(async () => {
      await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
      const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        const file = await open(tmp, 'wx', 0o600);
        try {
          await file.writeFile(JSON.stringify(map));
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(tmp, path);
      } catch (e) {
        await rm(tmp, { force: true });
        throw e;
      }
    });
  }

  /** The map of a shared study; REIDENTIFICATION_UNKNOWN if this RO never exported it. */
  async load(studyId: string): Promise<ReidentificationMap> {
    const path = this.pathOf(studyId);
    return this.io(async () => {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ConnectorError('REIDENTIFICATION_UNKNOWN');
        throw e;
      }
      return JSON.parse(text) as ReidentificationMap;
    });
  }

  /** One filesystem operation under the deadline; any failure but a ConnectorError is REIDENTIFICATION_UNAVAILABLE. */
  private async io<T>(work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ConnectorError('REIDENTIFICATION_UNAVAILABLE', `no answer within ${this.deadlineMs} ms`)),
        this.deadlineMs,
      );
    });
    try {
      return await Promise.race([work(), deadline]);
    } catch (e) {
      if (e instanceof ConnectorError) throw e;
      throw new ConnectorError('REIDENTIFICATION_UNAVAILABLE', (e as NodeJS.ErrnoException).code ?? (e as Error).name);
    } finally {
      clearTimeout(timer);
    }
  }
}
