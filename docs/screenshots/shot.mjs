// Screenshot of a rendered report for the README:
//   cd docs/screenshots && npm install && node shot.mjs ../../reports/compare-paper-vs-improved/index.html ../compare.png
// Options: --width 1200 --height 1500 (viewport, CSS pixels), --scale 1, --full (whole page),
// --clip TOP,HEIGHT (a band of the whole page, CSS pixels from its top).
// @sparticuz/chromium ships a headless Chromium inside the npm package, so this needs only the
// npm registry, not a browser download. Scripts run (sortable tables), network is not used.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import chromium from '@sparticuz/chromium';
import puppeteer from 'puppeteer-core';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    width: { type: 'string', default: '1200' },
    height: { type: 'string', default: '1500' },
    scale: { type: 'string', default: '1' },
    full: { type: 'boolean', default: false },
    clip: { type: 'string' },
  },
});
if (positionals.length !== 2) {
  console.error('usage: node shot.mjs REPORT.html OUT.png [--width W] [--height H] [--scale S] [--full | --clip TOP,HEIGHT]');
  process.exit(2);
}
const [page_file, out] = positionals;
const browser = await puppeteer.launch({
  args: chromium.args,
  executablePath: await chromium.executablePath(),
  headless: true,
  defaultViewport: {
    width: Number(values.width), height: Number(values.height), deviceScaleFactor: Number(values.scale),
  },
});
try {
  const page = await browser.newPage();
  await page.goto(pathToFileURL(path.resolve(page_file)).href, { waitUntil: 'networkidle0', timeout: 60000 });
  if (values.clip) {
    const [top, height] = values.clip.split(',').map(Number);
    const width = Number(values.width);
    await page.screenshot({ path: out, captureBeyondViewport: true, clip: { x: 0, y: top, width, height } });
  } else {
    await page.screenshot({ path: out, fullPage: values.full });
  }
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
}
