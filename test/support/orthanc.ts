/**
 * A real Orthanc (the RO's PACS) with its DICOMweb plugin, started for one test file: a private configuration, free
 * ports, its own temporary storage, stopped (by its PID) and removed after. The Debian packages are `orthanc` and
 * `orthanc-dicomweb`; without them the test fails and says how to install them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '#devchain';

const INSTALL = 'apt-get update && apt-get install -y orthanc orthanc-dicomweb';
const BINARIES = [process.env.ORTHANC_BIN, '/usr/sbin/Orthanc', '/usr/bin/Orthanc', '/usr/local/bin/Orthanc'];
const PLUGINS = [process.env.ORTHANC_DICOMWEB_PLUGIN, '/usr/share/orthanc/plugins/libOrthancDicomWeb.so'];

export interface Orthanc {
  /** Orthanc's REST root, e.g. http://127.0.0.1:PORT */
  url: string;
  /** the DICOMweb root (what an RO sets as DICOMWEB_URL) */
  dicomWebUrl: string;
  port: number;
  /** stores one Part-10 instance (Orthanc's REST API, as the RO's modalities would have) */
  store(instance: Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

function found(candidates: (string | undefined)[], what: string): string {
  const path = candidates.find((p): p is string => !!p && existsSync(p));
  if (!path) throw new Error(`${what} is not installed; install it with: ${INSTALL}`);
  return path;
}

/** `binary` replaces the search for the installed one (the test of the missing-binary message uses it). */
export async function startOrthanc(options: { binary?: string } = {}): Promise<Orthanc> {
  const binary = found(options.binary ? [options.binary] : BINARIES, 'Orthanc (the RO PACS used by the DICOMweb tests)');
  const plugin = found(PLUGINS, "Orthanc's DICOMweb plugin");
  const dir = mkdtempSync(join(tmpdir(), 'openread-orthanc-'));
  const port = await freePort();
  const config = {
    Name: 'openread-test-pacs',
    StorageDirectory: join(dir, 'storage'),
    IndexDirectory: join(dir, 'index'),
    HttpPort: port,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    // the tests speak HTTP only: no DICOM (DIMSE) listener to collide with anything
    DicomServerEnabled: false,
    DicomPort: await freePort(),
    Plugins: [plugin],
    DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: false },
    HttpTimeout: 60,
    StableAge: 1,
  };
  writeFileSync(join(dir, 'orthanc.json'), JSON.stringify(config));
  const log = join(dir, 'orthanc.log');
  const out = openSync(log, 'a');
  const child: ChildProcess = spawn(binary, [join(dir, 'orthanc.json')], { stdio: ['ignore', out, out] });
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => child.once('exit', (code, signal) => ((exited = `${code ?? signal}`), resolve())));

  const url = `http://127.0.0.1:${port}`;
  const cleanup = async () => {
    if (!exited && child.pid) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const until = Date.now() + 30_000;
    for (;;) {
      if (exited) throw new Error(`Orthanc exited (${exited}) at start:\n${readFileSync(log, 'utf8').slice(-2000)}`);
      const ok = await fetch(`${url}/dicom-web/studies`, { headers: { accept: 'application/dicom+json' } }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > until) throw new Error(`Orthanc did not answer within 30 s:\n${readFileSync(log, 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  return {
    url,
    dicomWebUrl: `${url}/dicom-web`,
    port,
    async store(instance) {
      const res = await fetch(`${url}/instances`, { method: 'POST', headers: { 'content-type': 'application/dicom' }, body: instance });
      if (!res.ok) throw new Error(`Orthanc refused an instance: ${res.status} ${await res.text()}`);
      await res.body?.cancel();
    },
    stop: cleanup,
  };
}
