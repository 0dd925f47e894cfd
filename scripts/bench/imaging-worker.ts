/**
 * One stage of the imaging benchmark (scripts/bench/imaging.ts) in its own process, so that its peak RSS is its own:
 * `node imaging-worker.js <generate|copy|import|fetch> <dir> [MiB]`. Prints one line of JSON.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Deidentifier, readPart10, textOf } from '#dicom';
import { generateStudy } from '#dicom/testing';
import { importInstances, newImportTimings } from '#connector';
import { FsBlobStore, readStudy, unframeInstances, type StudyManifest } from '#storage';

/** CT instances of 20 frames of 512×512×16 bit: 10 MiB each, a clinical multi-frame size */
const FRAMES = 20;
const INSTANCE_MIB = 10;

const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;
/** CPU milliseconds of this process (all threads) since `since` */
const cpuMs = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};
const studyFiles = async (dir: string) => (await readdir(join(dir, 'study'))).sort().map((f) => join(dir, 'study', f));

async function generate(dir: string, mib: number) {
  const count = Math.max(1, Math.round(mib / INSTANCE_MIB));
  const series = Math.min(4, count);
  const study = generateStudy({
    modality: 'CT',
    series,
    instancesPerSeries: Math.ceil(count / series),
    framesPerInstance: FRAMES,
    seed: `bench-${mib}`,
  });
  await mkdir(join(dir, 'study'), { recursive: true });
  let n = 0;
  let bytes = 0;
  // one instance in memory at a time: written as generated
  for (const instance of study.instances()) {
    await writeFile(join(dir, 'study', `${String(n++).padStart(6, '0')}.dcm`), instance);
    bytes += instance.byteLength;
  }
  await writeFile(join(dir, 'study.json'), JSON.stringify({ studyInstanceUid: study.studyInstanceUid }));
  return { files: n, bytes };
}

/** The baseline: the same files read and written on the same disk, each flushed as the blob store flushes its chunks. */
async function copy(dir: string) {
  await mkdir(join(dir, 'copy'), { recursive: true });
  let bytes = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (const path of await studyFiles(dir)) {
    const target = join(dir, 'copy', path.split('/').pop()!);
    await pipeline(createReadStream(path), createWriteStream(target));
    const file = await open(target, 'r+');
    bytes += (await file.stat()).size;
    await file.sync();
    await file.close();
  }
  return { bytes, ms: performance.now() - t0, cpuMs: cpuMs(c0) };
}

async function importStage(dir: string) {
  const { studyInstanceUid } = JSON.parse(await readFile(join(dir, 'study.json'), 'utf8')) as { studyInstanceUid: string };
  const files = await studyFiles(dir);
  async function* instances() {
    for (const path of files) yield await readFile(path);
  }
  const timings = newImportTimings();
  const studyKey = Buffer.alloc(32, 7); // a benchmark's key; the study is generated
  const result = await importInstances(instances(), studyInstanceUid, {
    studyId: `0x${'be'.repeat(32)}`,
    studyKey,
    store: new FsBlobStore({ root: join(dir, 'blobs') }),
    deidentifier: new Deidentifier({ secret: 'bench-de-identification-secret' }),
    timings,
  });
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(result.manifest));
  // a check that the stage did the work: the first instance's headers come back de-identified
  const first = readPart10(await readFile(files[0]), true).dataset;
  if (textOf(first, '0020000D') === result.deidentifiedStudyUid) throw new Error('not de-identified');
  return { timings, instances: result.metadata.instanceCount, chunks: result.manifest.chunks.length };
}

async function fetchStage(dir: string) {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as StudyManifest;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let bytes = 0;
  let instances = 0;
  for await (const instance of unframeInstances(
    readStudy(manifest, {
      studyKey: Buffer.alloc(32, 7),
      store: new FsBlobStore({ root: join(dir, 'blobs') }),
      expectedRoot: manifest.merkleRoot,
    }),
  )) {
    bytes += instance.length;
    instances++;
  }
  return { bytes, instances, ms: performance.now() - t0, cpuMs: cpuMs(c0) };
}

async function main() {
  const [stage, dir, mib] = process.argv.slice(2);
  const t0 = performance.now();
  const out =
    stage === 'generate'
      ? await generate(dir, Number(mib))
      : stage === 'copy'
        ? await copy(dir)
        : stage === 'import'
          ? await importStage(dir)
          : stage === 'fetch'
            ? await fetchStage(dir)
            : undefined;
  if (!out) throw new Error(`unknown stage ${stage}`);
  console.log(JSON.stringify({ ...out, wallMs: performance.now() - t0, peakRssMiB: peakRssMiB() }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
