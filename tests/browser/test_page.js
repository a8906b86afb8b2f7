#!/usr/bin/env node
// End-to-end test of the hotcold host page in Debian's headless Chromium, driven by playwright-core.
//
//   node tests/browser/test_page.js --base-url http://127.0.0.1:8099 --artifacts DIR [--chromium PATH]
//
// Works against a real host (nginx + FFmpeg + archiver) or tests/browser/fake_host.py. Each check prints
// "ok" or "FAIL <reason>"; screenshots go to the artifacts dir; the last line is "N passed, N failed".
// Exit status: 0 all passed, 1 a check failed, 2 bad usage or the browser could not start.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

function usage(msg) {
  if (msg) console.error(`test_page.js: ${msg}`);
  console.error('usage: test_page.js --base-url http://127.0.0.1:PORT --artifacts DIR [--chromium /usr/bin/chromium] [--wait-archive SECONDS]');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { chromium: process.env.CHROMIUM || '/usr/bin/chromium', waitArchive: 120 };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      i += 1;
      return argv[i];
    };
    if (a === '--base-url') opts.baseUrl = val().replace(/\/+$/, '');
    else if (a === '--artifacts') opts.artifacts = val();
    else if (a === '--chromium') opts.chromium = val();
    else if (a === '--wait-archive') opts.waitArchive = Number(val());
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!opts.baseUrl || !/^https?:\/\//.test(opts.baseUrl)) usage('--base-url http://HOST:PORT is required');
  if (!opts.artifacts) usage('--artifacts DIR is required');
  return opts;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class CheckError extends Error {}
function expect(cond, msg) {
  if (!cond) throw new CheckError(msg);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  fs.mkdirSync(opts.artifacts, { recursive: true });
  if (!fs.existsSync(opts.chromium)) usage(`no browser at ${opts.chromium} (Debian: apt-get install chromium)`);

  const base = opts.baseUrl;
  const results = [];
  const consoleErrors = [];

  async function api(p) {
    const r = await fetch(base + p, { cache: 'no-store' });
    let body = null;
    try {
      body = await r.json();
    } catch (_) {
      /* not JSON */
    }
    return { status: r.status, body };
  }

  // --- what the host says, straight from its API (no browser) ---
  let config;
  try {
    const r = await api('/devices.json');
    expect(r.status === 200 && r.body && Array.isArray(r.body.devices), `GET /devices.json: HTTP ${r.status}`);
    config = r.body;
  } catch (err) {
    console.error(`test_page.js: cannot read ${base}/devices.json: ${err.message}`);
    process.exit(1);
  }
  const devices = config.devices;
  const device = devices[0];
  const tz = typeof config.timezone === 'string' && config.timezone ? config.timezone : undefined;
  const hourNow = () =>
    parseInt(new Intl.DateTimeFormat('en-GB', { hour: 'numeric', hourCycle: 'h23', timeZone: tz }).format(new Date()), 10) % 24;
  console.log(`host ${base}: devices ${devices.join(', ')}; first device ${device}; host hour ${hourNow()}${tz ? ` (${tz})` : ' (browser zone)'}`);
  if (!device) {
    console.error('test_page.js: the host lists no devices');
    process.exit(1);
  }

  // A freshly provisioned host archives its first thumbnails and segments some seconds after capture starts.
  const waitEnd = Date.now() + opts.waitArchive * 1000;
  for (;;) {
    const t = await api(`/api/host/thumbnails/${device}/${hourNow()}`);
    const s = await api(`/api/host/segments/${device}/${hourNow()}`);
    if (t.status === 200 && t.body.count > 0 && s.status === 200) break;
    if (Date.now() > waitEnd) {
      console.log(`note: after ${opts.waitArchive} s the current hour still has ${t.body && t.body.count} thumbnails, segments HTTP ${s.status}`);
      break;
    }
    await sleep(2000);
  }

  let browser;
  try {
    browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args: CHROMIUM_FLAGS, timeout: 60000 });
  } catch (err) {
    console.error(`test_page.js: Chromium did not start: ${err.message}`);
    process.exit(2);
  }
  const context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  context.setDefaultTimeout(15000);

  function watch(page, label) {
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(`[${label}] console.error: ${msg.text()} (${(msg.location() || {}).url || ''})`);
    });
    page.on('pageerror', (err) => consoleErrors.push(`[${label}] uncaught: ${err.message}`));
    return page;
  }

  async function shot(page, name) {
    const file = path.join(opts.artifacts, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  }

  async function check(name, page, fn) {
    const t0 = Date.now();
    try {
      const detail = await fn();
      results.push({ name, ok: true });
      console.log(`ok   ${name}${detail ? ` — ${detail}` : ''} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (err) {
      results.push({ name, ok: false });
      const reason = err instanceof CheckError ? err.message : `${err.name}: ${err.message.split('\n')[0]}`;
      console.log(`FAIL ${name}: ${reason}`);
      if (page) {
        try {
          const file = await shot(page, `FAIL-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`);
          console.log(`     screenshot: ${file}`);
        } catch (_) {
          /* page gone */
        }
      }
    }
  }

  const page = watch(await context.newPage(), 'main');

  await check('page loads', page, async () => {
    const resp = await page.goto(`${base}/`, { waitUntil: 'load' });
    expect(resp && resp.ok(), `GET / answered HTTP ${resp && resp.status()}`);
    await page.waitForSelector('body[data-ready="1"]');
    await page.waitForSelector('#strip .cell', { timeout: 20000 });
    const cells = await page.locator('#strip .cell').count();
    expect(cells === 24, `the hour strip has ${cells} cells, not 24`);
    const banner = await page.locator('#page-message').isVisible();
    expect(!banner, `an error banner shows: ${await page.locator('#page-message').textContent()}`);
    const selected = await page.locator('#device-select').inputValue();
    expect(selected === device, `the picker shows "${selected}", expected "${device}"`);
    return `${device} selected, 24 hour cells`;
  });

  await check('live picture updates', page, async () => {
    const img = page.locator('#live-img');
    await page.waitForSelector('#live-state[data-state="fresh"]', { timeout: 10000 }).catch(async () => {
      throw new CheckError(`the live picture is not fresh: badge says "${await page.locator('#live-state').textContent()}"`);
    });
    const first = await img.evaluate((el) => ({ src: el.src, lm: el.dataset.lastModified, w: el.naturalWidth }));
    expect(first.w > 0, 'the live picture has no pixels');
    expect(first.lm, 'no Last-Modified seen for latest.jpg');
    const end = Date.now() + 6000;
    let now = first;
    while (Date.now() < end) {
      await sleep(250);
      now = await img.evaluate((el) => ({ src: el.src, lm: el.dataset.lastModified, w: el.naturalWidth }));
      if (now.src !== first.src && now.lm !== first.lm) break;
    }
    expect(now.src !== first.src && now.lm !== first.lm, `latest.jpg did not change in 6 s (Last-Modified stays "${first.lm}")`);
    const badge = await page.locator('#live-state').textContent();
    expect(/\d+ s old/.test(badge), `the age is not shown: badge says "${badge}"`);
    const state = await page.locator('#live-state').getAttribute('data-state');
    expect(state === 'fresh', `the live picture turned ${state}`);
    return `Last-Modified ${first.lm} -> ${now.lm}; badge "${badge}"`;
  });

  await check('live stream plays', page, async () => {
    const video = page.locator('#live-video');
    const t1 = await video.evaluate(async (v) => {
      const end = Date.now() + 15000;
      while (Date.now() < end && !(v.readyState >= 2 && v.currentTime > 0)) await new Promise((r) => setTimeout(r, 200));
      return v.currentTime;
    });
    const why = await page.locator('#live-video-message').textContent();
    expect(t1 > 0, `the live video does not play${why ? `: ${why}` : ''}`);
    await sleep(1500);
    const t2 = await video.evaluate((v) => v.currentTime);
    expect(t2 > t1, `the live video is stuck at ${t1.toFixed(2)} s`);
    return `currentTime ${t1.toFixed(2)} -> ${t2.toFixed(2)} s`;
  });

  await check('overview screenshot', page, async () => shot(page, 'overview'));

  const expectedHour = hourNow();
  await check('strip marks the current hour with the API count', page, async () => {
    const current = page.locator('#strip .cell.current');
    const n = await current.count();
    expect(n === 1, `${n} cells are marked as the current hour`);
    const hour = Number(await current.getAttribute('data-hour'));
    expect(hour === expectedHour || hour === hourNow(), `the current-hour cell is ${hour}, the host's hour is ${expectedHour}`);
    // The count of the current hour grows on a live host: the page's value must lie between the API's
    // answers before and after the page loaded its strip (the page reloads it on click as well).
    const pageCount = Number(await current.getAttribute('data-count'));
    const after = await api(`/api/host/thumbnails/${device}/${hour}`);
    expect(after.status === 200, `API thumbnails ${hour}: HTTP ${after.status}`);
    expect(pageCount > 0, `the current hour shows count ${pageCount}; the API says ${after.body.count}`);
    expect(pageCount <= after.body.count && pageCount >= Math.min(after.body.count, 1),
      `the page shows ${pageCount} thumbnails, the API says ${after.body.count}`);
    // Every other hour: the page's count equals the API's (closed hours do not change).
    const mismatches = [];
    for (let h = 0; h < 24; h += 1) {
      if (h === hour) continue;
      const pc = Number(await page.locator(`#strip .cell[data-hour="${h}"]`).getAttribute('data-count'));
      const r = await api(`/api/host/thumbnails/${device}/${h}`);
      if (!r.body || r.body.count !== pc) mismatches.push(`hour ${h}: page ${pc}, API ${r.body && r.body.count}`);
    }
    expect(mismatches.length === 0, `strip counts differ from the API: ${mismatches.join('; ')}`);
    return `hour ${hour}: ${pageCount} thumbnails (API ${after.body.count}); other 23 hours match`;
  });

  // The hour to open: the current one if it has thumbnails and an archive playlist, else the latest that does.
  // Hours with thumbnails and an archive playlist, newest first: the current hour on a fresh host.
  const archivedHours = [];
  for (let back = 0; back < 24; back += 1) {
    const h = (expectedHour - back + 24) % 24;
    const t = await api(`/api/host/thumbnails/${device}/${h}`);
    const s = await api(`/api/host/segments/${device}/${h}`);
    if (t.status === 200 && t.body.count > 0 && s.status === 200) archivedHours.push(h);
  }
  const playHour = archivedHours.length ? archivedHours[0] : null;
  const pageCounts = await page.$$eval('#strip .cell', (cells) => cells.map((c) => c.dataset.count));

  await check('clicking an hour shows its thumbnails', page, async () => {
    expect(playHour !== null, 'no hour has both thumbnails and an archive playlist');
    await page.locator(`#strip .cell[data-hour="${playHour}"]`).click();
    await page.waitForSelector(`#hour-view[data-hour="${playHour}"][data-state="ok"]`).catch(async () => {
      throw new CheckError(`the hour view did not open: ${await page.locator('#hour-message').textContent()}`);
    });
    const api1 = await api(`/api/host/thumbnails/${device}/${playHour}`);
    const shown = await page.locator('#thumbs img').count();
    const total = Number(await page.locator('#thumbs-summary').getAttribute('data-count'));
    expect(shown > 0, 'the thumbnail grid is empty');
    expect(total > 0 && total <= api1.body.count, `the page lists ${total} thumbnails, the API ${api1.body.count}`);
    const firstImg = page.locator('#thumbs img').first();
    await firstImg.scrollIntoViewIfNeeded();
    await page.waitForFunction(() => {
      const img = document.querySelector('#thumbs img');
      return img && img.complete && img.naturalWidth > 0;
    }).catch(() => {
      throw new CheckError('the first thumbnail did not load');
    });
    const src = await firstImg.getAttribute('src');
    expect(src === api1.body.thumbnails[0], `first thumbnail ${src}, API says ${api1.body.thumbnails[0]}`);
    const lazy = await firstImg.getAttribute('loading');
    expect(lazy === 'lazy', 'thumbnails are not lazily loaded');
    await shot(page, 'hour-thumbnails');
    return `hour ${playHour}: ${shown} of ${total} thumbnails in the grid`;
  });

  async function playAndSeek(hour, shotName) {
    await page.waitForSelector(`#hour-view[data-hour="${hour}"] #archive[data-state="ok"]`).catch(async () => {
      throw new CheckError(`no archive player: ${await page.locator('#archive-message').textContent()}`);
    });
    const video = page.locator('#archive-video');
    await video.scrollIntoViewIfNeeded();
    const start = await video.evaluate(async (v) => {
      v.muted = true;
      const end = Date.now() + 15000;
      while (Date.now() < end && v.readyState < 1) await new Promise((r) => setTimeout(r, 100));
      await v.play();
      while (Date.now() < end && !(v.currentTime > 0.3)) await new Promise((r) => setTimeout(r, 100));
      return { t: v.currentTime, ready: v.readyState };
    });
    const why = await page.locator('#archive-message').textContent();
    expect(start.t > 0.3, `the archived video does not play (readyState ${start.ready})${why ? `: ${why}` : ''}`);
    await sleep(1000);
    const t2 = await video.evaluate((v) => v.currentTime);
    expect(t2 > start.t, `the archived video is stuck at ${start.t.toFixed(2)} s`);
    const seek = await video.evaluate(async (v) => {
      const s = v.seekable;
      if (!s.length) return { error: 'nothing seekable' };
      const lo = s.start(0);
      const hi = s.end(s.length - 1);
      // Somewhere clearly away from where it is now.
      let target = lo + (hi - lo) * 0.7;
      if (Math.abs(target - v.currentTime) < 2) target = lo + (hi - lo) * 0.2;
      const seeked = new Promise((r) => v.addEventListener('seeked', r, { once: true }));
      v.currentTime = target;
      await Promise.race([seeked, new Promise((r) => setTimeout(r, 10000))]);
      const at = v.currentTime;
      await new Promise((r) => setTimeout(r, 1200));
      return { lo, hi, target, at, later: v.currentTime };
    });
    expect(!seek.error, `cannot seek: ${seek.error}`);
    expect(Math.abs(seek.at - seek.target) < 1.5, `asked to seek to ${seek.target.toFixed(2)} s, it went to ${seek.at.toFixed(2)} s`);
    expect(seek.later > seek.at, `after seeking to ${seek.at.toFixed(2)} s playback did not go on`);
    const info = await page.locator('#archive-info').textContent();
    await shot(page, shotName);
    return `hour ${hour}: played ${start.t.toFixed(2)} -> ${t2.toFixed(2)} s; seekable ${seek.lo.toFixed(1)}..${seek.hi.toFixed(1)} s, seeked to ${seek.target.toFixed(2)} -> at ${seek.at.toFixed(2)}, then ${seek.later.toFixed(2)} s ("${info}")`;
  }

  await check('archived hour plays and seeks', page, async () => {
    expect(playHour !== null, 'no hour has both thumbnails and an archive playlist');
    return playAndSeek(playHour, 'archive-playing');
  });

  // A closed hour as well (VOD + ENDLIST), when the host has one besides the current hour.
  if (archivedHours.length > 1) {
    const closed = archivedHours[1];
    await check('an older archived hour plays and seeks', page, async () => {
      await page.locator(`#strip .cell[data-hour="${closed}"]`).click();
      return playAndSeek(closed, 'archive-older-hour');
    });
  }

  // An hour holds thousands of thumbnails on a real host: the grid shows them a page at a time.
  const bigHour = archivedHours.find((h) => Number(pageCounts[h]) > 120);
  if (bigHour !== undefined) {
    await check('a large hour shows its thumbnails a page at a time', page, async () => {
      await page.locator(`#strip .cell[data-hour="${bigHour}"]`).click();
      await page.waitForSelector(`#hour-view[data-hour="${bigHour}"][data-state="ok"]`);
      const total = Number(await page.locator('#thumbs-summary').getAttribute('data-count'));
      const first = await page.locator('#thumbs img').count();
      expect(first < total, `all ${total} thumbnails were put in the page at once`);
      await page.locator('#thumbs-more').scrollIntoViewIfNeeded();
      await page.waitForFunction((n) => document.querySelectorAll('#thumbs img').length > n, first).catch(() => {
        throw new CheckError(`scrolling to the end of the grid did not add thumbnails (still ${first})`);
      });
      const more = await page.locator('#thumbs img').count();
      return `hour ${bigHour}: ${total} thumbnails, ${first} at first, ${more} after scrolling`;
    });
  }

  await check('an empty hour shows its message', page, async () => {
    let empty = null;
    for (let back = 1; back < 24 && empty === null; back += 1) {
      const h = (expectedHour - back + 24) % 24;
      const t = await api(`/api/host/thumbnails/${device}/${h}`);
      if (t.status === 200 && t.body.count === 0) empty = h;
    }
    expect(empty !== null, 'every hour has thumbnails, so there is no empty hour to check (the host is not fresh)');
    const cell = page.locator(`#strip .cell[data-hour="${empty}"]`);
    expect((await cell.getAttribute('data-state')) === 'gap', `hour ${empty} is not drawn as a gap`);
    await cell.click();
    await page.waitForSelector(`#hour-view[data-hour="${empty}"][data-state="empty"]`);
    const msg = page.locator('#hour-message');
    expect(await msg.isVisible(), 'no message for the empty hour');
    const text = await msg.textContent();
    expect(/no recording/i.test(text), `unexpected message "${text}"`);
    expect((await page.locator('#thumbs img').count()) === 0, 'thumbnails still shown for an empty hour');
    expect(await page.locator('#archive').isHidden(), 'the archive player is still shown for an empty hour');
    await shot(page, 'empty-hour');
    return `hour ${empty}: "${text}"`;
  });

  await check('an old capture shows the stale state', page, async () => {
    // Answer latest.jpg with a Last-Modified 60 s in the past; the page must turn stale within a second or two.
    await page.route('**/hot/captures/latest.jpg*', async (route) => {
      try {
        const resp = await route.fetch();
        const headers = { ...resp.headers(), 'last-modified': new Date(Date.now() - 60000).toUTCString(), date: new Date().toUTCString() };
        delete headers.etag;
        await route.fulfill({ response: resp, headers });
      } catch (_) {
        /* a poll still in flight when the route is removed */
      }
    });
    try {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.waitForSelector('#live-state[data-state="stale"]', { timeout: 5000 }).catch(async () => {
        throw new CheckError(`not stale with a 60 s old capture: badge "${await page.locator('#live-state').textContent()}"`);
      });
      const overlay = page.locator('#live-img-message');
      expect(await overlay.isVisible(), 'no stale message over the picture');
      const text = `${await page.locator('#live-state').textContent()} / ${await overlay.textContent()}`;
      await shot(page, 'stale');
      return text;
    } finally {
      await page.unrouteAll({ behavior: 'wait' });
    }
  });

  await check('the live picture recovers from stale', page, async () => {
    await page.waitForSelector('#live-state[data-state="fresh"]', { timeout: 5000 });
  });

  if (devices.length > 1) {
    await check('the device picker switches devices', page, async () => {
      const other = devices[1];
      await page.selectOption('#device-select', other);
      await page.waitForFunction((d) => new URL(location.href).searchParams.get('device') === d, other);
      await page.waitForSelector('#live-state[data-state="fresh"]', { timeout: 10000 });
      const lm = await page.locator('#live-img').getAttribute('src');
      expect(lm, `no live picture for ${other}`);
      await page.waitForSelector('#strip .cell.current');
      return `${other}: live picture fresh, strip loaded`;
    });
  }

  const unknown = watch(await context.newPage(), 'nope');
  await check('an unknown device shows a clear message', unknown, async () => {
    await unknown.goto(`${base}/?device=nope`, { waitUntil: 'load' });
    await unknown.waitForSelector('body[data-ready="1"]');
    const msg = unknown.locator('#page-message');
    expect(await msg.isVisible(), 'no message for ?device=nope');
    const text = await msg.textContent();
    expect(/unknown device/i.test(text) && text.includes('nope'), `unexpected message "${text}"`);
    expect(await unknown.locator('#device-view').isHidden(), 'the device view is shown for an unknown device');
    await shot(unknown, 'unknown-device');
    return `"${text}"`;
  });

  await check('no console errors', null, async () => {
    await sleep(500);
    expect(consoleErrors.length === 0, `${consoleErrors.length} console error(s):\n  ${consoleErrors.join('\n  ')}`);
    return 'none on any page';
  });

  await browser.close();
  const failed = results.filter((r) => !r.ok).length;
  console.log(`artifacts: ${path.resolve(opts.artifacts)}`);
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

process.on('unhandledRejection', (err) => {
  console.error(`test_page.js: unexpected error: ${(err && err.stack) || err}`);
  process.exit(2);
});

main().catch((err) => {
  console.error(`test_page.js: ${err.stack || err}`);
  process.exit(2);
});
