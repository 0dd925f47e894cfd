import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** GitHub's heading anchors: lower case, punctuation dropped (but - and _), spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

const anchors = (file: string) => {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1])));
};

describe('documentation links', () => {
  it('every relative link of README, CONTRIBUTING and docs/ reaches a file, and its #anchor a heading there', () => {
    const pages = [
      'README.md',
      'CONTRIBUTING.md',
      ...readdirSync('docs', { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.md'))
        .map((f) => join('docs', f)),
    ];
    const broken: string[] = [];
    for (const page of pages) {
      const text = readFileSync(page, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [path, anchor] = target.split('#');
        const file = path ? join(dirname(page), path) : page;
        if (!existsSync(file)) broken.push(`${page}: ${target} (no such file)`);
        else if (anchor && !(statSync(file).isFile() && anchors(file).has(anchor))) broken.push(`${page}: ${target} (no such heading)`);
      }
    }
    expect(pages.length).toBeGreaterThan(15);
    expect(broken).toEqual([]);
  });
});
