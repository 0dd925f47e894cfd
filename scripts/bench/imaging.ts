/**
 * `BENCH=imaging`: the RO connector's pipeline on a generated CT study of BENCH_IMAGING_MB MiB (default 1024) on
 * disk, stage by stage, next to a plain copy of the same files on the same disk in the same run: read the
 * instances from files → de-identify (PS3.15) → encrypt + store (4 MiB chunks, each flushed) and fetch → verify →
 * decrypt. Each step runs in its own process (imaging-worker.ts), so the peak RSS printed is that step's alone.
 * BENCH_IMAGING_DIR picks the disk (default the system's temporary directory); everything is removed after.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const WORKER = join(import.meta.dirname, 'imaging-worker.js');
const RSS_GOAL_MIB = 300;

interface StageOut {
  wallMs: number;
  peakRssMiB: number;
  bytes?: number;
  ms?: number;
  cpuMs?: number;
  files?: number;
  instances?: number;
  chunks?: number;
  timings?: {
    readMs: number;
    deidentifyMs: number;
    storeMs: number;
    totalMs: number;
    readCpuMs: number;
    deidentifyCpuMs: number;
    storeCpuMs: number;
    totalCpuMs: number;
    bytesIn: number;
    bytesOut: number;
  };
}

async function stage(name: string, dir: string, mib?: number): Promise<StageOut> {
  const { stdout } = await promisify(execFile)(process.execPath, [WORKER, name, dir, ...(mib ? [String(mib)] : [])], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as StageOut;
}

export async function imagingBench(options: { mib: number; dir?: string }): Promise<void> {
  const dir = mkdtempSync(join(options.dir ?? tmpdir(), 'openread-bench-imaging-'));
  try {
    console.log(`\nimaging: generating a ${options.mib} MiB CT study on disk (${dir})…`);
    const gen = await stage('generate', dir, options.mib);
    const copy = await stage('copy', dir);
    const imp = await stage('import', dir);
    const fetch = await stage('fetch', dir);
    const t = imp.timings!;
    const MiB = 2 ** 20;
    const rate = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
    const copyRate = rate(copy.bytes!, copy.ms!);
    const rows: [string, number, number, number, string][] = [
      ['plain file copy (read, write, fsync; same disk)', copy.bytes!, copy.ms!, copy.cpuMs!, ''],
      ['read the instances from files', t.bytesIn, t.readMs, t.readCpuMs, ''],
      ['de-identify (PS3.15, metadata, re-identification map)', t.bytesIn, t.deidentifyMs, t.deidentifyCpuMs, ''],
      ['frame + encrypt + hash + store (4 MiB chunks, fsync)', t.bytesOut, t.storeMs, t.storeCpuMs, ''],
      ['**import end to end** (files → chunks)', t.bytesIn, t.totalMs, t.totalCpuMs, `peak RSS ${imp.peakRssMiB.toFixed(0)} MiB`],
      [
        '**fetch + verify + decrypt + unframe end to end**',
        fetch.bytes!,
        fetch.ms!,
        fetch.cpuMs!,
        `peak RSS ${fetch.peakRssMiB.toFixed(0)} MiB`,
      ],
      ['import + fetch, one after the other', t.bytesIn, t.totalMs + fetch.ms!, t.totalCpuMs + fetch.cpuMs!, ''],
    ];
    const copyCpuRate = rate(copy.bytes!, copy.cpuMs!);
    console.log(
      `\n${cpus().length} cores, Node ${process.version}, load average ${loadavg()[0].toFixed(1)}; ${gen.files} instances (${(gen.bytes! / MiB).toFixed(0)} MiB, ${imp.instances} imported, ${imp.chunks} chunks)\n`,
    );
    // wall clock is what an RO waits; CPU time (the process's, all threads) is what a stage costs on an idle machine
    console.log(
      '| stage | MiB | wall | MiB/s | of the copy rate | CPU | MiB per CPU-s | of the copy per CPU-s | note |\n|---|---:|---:|---:|---:|---:|---:|---:|---|',
    );
    for (const [what, bytes, ms, cpu, note] of rows) {
      const r = rate(bytes, ms);
      const rc = rate(bytes, cpu);
      console.log(
        `| ${what} | ${(bytes / MiB).toFixed(0)} | ${(ms / 1000).toFixed(2)} s | ${r.toFixed(0)} | ${((r / copyRate) * 100).toFixed(0)} % | ${(cpu / 1000).toFixed(2)} s | ${rc.toFixed(0)} | ${((rc / copyCpuRate) * 100).toFixed(0)} % | ${note} |`,
      );
    }
    const ok = (mib: number) => (mib < RSS_GOAL_MIB ? `< ${RSS_GOAL_MIB} ✓` : `≥ ${RSS_GOAL_MIB} ✗`);
    console.log(
      `\npeak RSS per process (goal < ${RSS_GOAL_MIB} MiB whatever the study size): generate ${gen.peakRssMiB.toFixed(0)} MiB, ` +
        `copy ${copy.peakRssMiB.toFixed(0)} MiB, import ${imp.peakRssMiB.toFixed(0)} MiB ${ok(imp.peakRssMiB)}, ` +
        `fetch ${fetch.peakRssMiB.toFixed(0)} MiB ${ok(fetch.peakRssMiB)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
