/**
 * `npm run bench`: performance measurements (not part of `npm test`). Each area is a function in scripts/bench/
 * returning rows of one table.
 */
import { printTable } from './bench/worklist.js';
import { worklistBench } from './bench/worklist.js';

const rows = [...(await worklistBench({ queries: Number(process.env.BENCH_QUERIES ?? 300) }))];
printTable(rows);
