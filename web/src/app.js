// hotcold host page: live picture, live HLS, a 24-hour thumbnail strip and archived-hour playback.
// Plain JS, no build step of its own. URLs used (see docs/DESIGN.md):
//   devices.json (next to this page)  {"devices": [...], "url_prefix": "/host/stream",
//                                      "max_capture_age_seconds": 3, "timezone": "UTC" (optional)}
//   <url_prefix>/<device>/hot/captures/latest.jpg     newest capture in RAM (symlink)
//   <url_prefix>/<device>/hot/segments/output.m3u8    live HLS
//   /api/host/thumbnails/<device>/<hour>              {"hour", "count", "thumbnails": [url, ...]}
//   /api/host/segments/<device>/<hour>                {"hour", "manifest_url"} or 404
'use strict';

(() => {
  const POLL_MS = 500; // latest.jpg poll period
  const TICK_MS = 250; // age display refresh
  const STRIP_REFRESH_MS = 30000; // hour counts refresh
  const THUMB_PAGE = 120; // thumbnails added to the grid at a time
  const RETRY_MS = 5000; // live stream retry after a fatal error

  const $ = (id) => document.getElementById(id);
  const pad2 = (n) => String(n).padStart(2, '0');

  const state = {
    config: null,
    device: null,
    gen: 0, // bumped on every device switch; async work from an older generation is dropped
    timers: [],
    liveHls: null,
    archiveHls: null,
    liveObjectUrl: null,
    liveVersion: null,
    lastModifiedMs: null, // Last-Modified of the newest capture, host clock
    clockOffsetMs: 0, // host clock minus this browser's clock, from the Date header
    offsetSamples: [],
    liveError: null,
    strip: [], // per hour: {count, status}
    hour: null,
    thumbUrls: [],
    thumbShown: 0,
    thumbObserver: null,
  };

  // ---------- small helpers ----------

  async function getJSON(url) {
    const resp = await fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } });
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      body = null;
    }
    return { status: resp.status, ok: resp.ok, body };
  }

  function show(el, text, kind) {
    el.textContent = text;
    if (kind) el.dataset.kind = kind;
    el.hidden = false;
  }

  function hide(el) {
    el.hidden = true;
    el.textContent = '';
  }

  function every(ms, fn) {
    const id = setInterval(fn, ms);
    state.timers.push(() => clearInterval(id));
  }

  function after(ms, fn) {
    const id = setTimeout(fn, ms);
    state.timers.push(() => clearTimeout(id));
  }

  function shortCount(n) {
    if (n >= 10000) return `${Math.round(n / 1000)}k`;
    if (n >= 1000) return `${(n / 1000).toFixed(1)}k`;
    return String(n);
  }

  function formatAge(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    return `${Math.round(s / 3600)} h`;
  }

  // The host's hour folders use its configured time zone; devices.json may name it.
  function hostHourNow() {
    const tz = state.config && state.config.timezone;
    const now = new Date(Date.now() + state.clockOffsetMs);
    if (tz) {
      try {
        const h = new Intl.DateTimeFormat('en-GB', { hour: 'numeric', hourCycle: 'h23', timeZone: tz }).format(now);
        return parseInt(h, 10) % 24;
      } catch (_) {
        /* unknown zone name: fall back to this browser's zone */
      }
    }
    return now.getHours();
  }

  function hostClockText() {
    return hostTimeText(new Date(Date.now() + state.clockOffsetMs), true);
  }

  function hostTimeText(now, withZone) {
    const tz = state.config && state.config.timezone;
    const opts = { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
    try {
      return new Intl.DateTimeFormat('en-GB', tz ? { ...opts, timeZone: tz } : opts).format(now) + (tz && withZone ? ` ${tz}` : '');
    } catch (_) {
      return new Intl.DateTimeFormat('en-GB', opts).format(now);
    }
  }

  // ---------- HLS (hls.js, or the browser's own HLS where it has one) ----------

  function attachHls(video, url, { live, onError, onPlaying }) {
    if (window.Hls && window.Hls.isSupported()) {
      // An archived hour starts at its beginning, also while the hour is open (an EVENT playlist,
      // which hls.js would otherwise start near its end, like a live stream).
      const hls = new window.Hls(live ? { backBufferLength: 30 } : { backBufferLength: 90, startPosition: 0 });
      let mediaRecoveries = 0;
      hls.on(window.Hls.Events.ERROR, (_evt, data) => {
        if (!data.fatal) return;
        if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 2) {
          mediaRecoveries += 1;
          hls.recoverMediaError();
          return;
        }
        const code = data.response && data.response.code ? ` (HTTP ${data.response.code})` : '';
        onError(`${data.details}${code}`);
      });
      hls.on(window.Hls.Events.FRAG_BUFFERED, () => {
        mediaRecoveries = 0;
      });
      if (onPlaying) video.addEventListener('playing', onPlaying);
      hls.loadSource(url);
      hls.attachMedia(video);
      return {
        playingDate: () => hls.playingDate,
        destroy() {
          if (onPlaying) video.removeEventListener('playing', onPlaying);
          hls.destroy();
        },
      };
    }
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      const onErr = () => onError('the browser could not play the stream');
      video.addEventListener('error', onErr);
      if (onPlaying) video.addEventListener('playing', onPlaying);
      video.src = url;
      return {
        playingDate: () => (video.getStartDate && !Number.isNaN(video.getStartDate().getTime())
          ? new Date(video.getStartDate().getTime() + video.currentTime * 1000) : null),
        destroy() {
          video.removeEventListener('error', onErr);
          if (onPlaying) video.removeEventListener('playing', onPlaying);
          video.removeAttribute('src');
          video.load();
        },
      };
    }
    onError('this browser cannot play HLS');
    return { playingDate: () => null, destroy() {} };
  }

  // ---------- live picture ----------

  function liveUrl(kind) {
    const base = `${state.config.url_prefix}/${encodeURIComponent(state.device)}/hot`;
    return kind === 'jpg' ? `${base}/captures/latest.jpg` : `${base}/segments/output.m3u8`;
  }

  async function pollLatest(gen) {
    if (gen !== state.gen) return;
    if (!document.hidden) {
      try {
        const resp = await fetch(`${liveUrl('jpg')}?t=${Date.now()}`, { cache: 'no-store' });
        if (gen !== state.gen) return;
        if (!resp.ok) {
          state.liveError = resp.status === 404 ? 'no capture yet' : `HTTP ${resp.status}`;
        } else {
          const hostDate = Date.parse(resp.headers.get('Date') || '');
          if (!Number.isNaN(hostDate)) noteHostDate(hostDate);
          const lastModified = Date.parse(resp.headers.get('Last-Modified') || '');
          const version = resp.headers.get('ETag') || resp.headers.get('Last-Modified') || String(Date.now());
          const blob = await resp.blob();
          if (gen !== state.gen) return;
          state.liveError = null;
          state.lastModifiedMs = Number.isNaN(lastModified) ? null : lastModified;
          if (version !== state.liveVersion) {
            state.liveVersion = version;
            const img = $('live-img');
            const old = state.liveObjectUrl;
            state.liveObjectUrl = URL.createObjectURL(blob);
            img.src = state.liveObjectUrl;
            img.dataset.version = version;
            img.dataset.lastModified = resp.headers.get('Last-Modified') || '';
            if (old) setTimeout(() => URL.revokeObjectURL(old), 2000);
          }
        }
      } catch (_) {
        if (gen !== state.gen) return;
        state.liveError = 'host unreachable';
      }
      renderLiveAge();
    }
    after(POLL_MS, () => pollLatest(gen));
  }

  // The host's Date header is truncated to whole seconds, so one sample is up to 1 s behind the host's
  // real time. Over a few seconds of polls the largest (Date - local time) is within a poll period of the
  // true offset: use the largest of the last 20 samples (10 s), so a changed clock is picked up soon.
  function noteHostDate(hostDateMs) {
    state.offsetSamples.push(hostDateMs - Date.now());
    if (state.offsetSamples.length > 20) state.offsetSamples.shift();
    state.clockOffsetMs = Math.max(...state.offsetSamples);
  }

  function renderLiveAge() {
    const badge = $('live-state');
    const overlay = $('live-img-message');
    const frame = $('live-img').parentElement;
    const maxAge = state.config.max_capture_age_seconds;
    if (state.lastModifiedMs === null) {
      badge.dataset.state = 'error';
      badge.textContent = state.liveError ? `no picture: ${state.liveError}` : 'no picture';
      show(overlay, `No live picture for ${state.device}${state.liveError ? ` (${state.liveError})` : ''}.`);
      frame.classList.add('stale');
      return;
    }
    // Age on the host's clock: host now (from the Date header, see noteHostDate) minus Last-Modified
    // (the capture's mtime), so a browser whose clock is off does not matter. nginx's Last-Modified has
    // 1-second resolution (truncated), so the age shown can be up to 1 s too high: tolerate 1 s, i.e. a
    // capture counts as stale only when older than max_capture_age_seconds + 1 s.
    const ageMs = Date.now() + state.clockOffsetMs - state.lastModifiedMs;
    const stale = ageMs > (maxAge + 1) * 1000;
    badge.dataset.ageMs = String(Math.round(ageMs));
    if (stale) {
      badge.dataset.state = 'stale';
      badge.textContent = `STALE · ${formatAge(ageMs)} old`;
      show(overlay, `No new picture for ${formatAge(ageMs)}${state.liveError ? ` (${state.liveError})` : ''}.`);
      frame.classList.add('stale');
    } else {
      badge.dataset.state = 'fresh';
      badge.textContent = `live · ${formatAge(ageMs)} old`;
      hide(overlay);
      frame.classList.remove('stale');
    }
  }

  // ---------- live stream ----------

  function startLiveVideo(gen) {
    if (gen !== state.gen) return;
    const video = $('live-video');
    const badge = $('live-video-state');
    const overlay = $('live-video-message');
    badge.dataset.state = 'loading';
    badge.textContent = 'connecting…';
    state.liveHls = attachHls(video, liveUrl('m3u8'), {
      live: true,
      onPlaying: () => {
        badge.dataset.state = 'fresh';
        badge.textContent = 'live';
        hide(overlay);
      },
      onError: (why) => {
        if (gen !== state.gen) return;
        badge.dataset.state = 'error';
        badge.textContent = 'unavailable';
        show(overlay, `Live stream unavailable: ${why}. Retrying…`);
        if (state.liveHls) state.liveHls.destroy();
        state.liveHls = null;
        after(RETRY_MS, () => startLiveVideo(gen));
      },
    });
    video.play().catch(() => {}); // muted autoplay; a refusal just leaves the play button
  }

  // ---------- 24-hour strip ----------

  function thumbnailsApi(hour) {
    return `/api/host/thumbnails/${encodeURIComponent(state.device)}/${hour}`;
  }

  function segmentsApi(hour) {
    return `/api/host/segments/${encodeURIComponent(state.device)}/${hour}`;
  }

  async function loadStrip(gen) {
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, hour) =>
        getJSON(thumbnailsApi(hour)).catch(() => ({ status: 0, ok: false, body: null })),
      ),
    );
    if (gen !== state.gen) return;
    // The API answers 404 for a device it does not know (an empty hour is a 200 with count 0).
    if (results.every((r) => r.status === 404)) {
      deviceUnknownToHost();
      return;
    }
    state.strip = results.map((r) =>
      r.ok && r.body && Number.isInteger(r.body.count)
        ? { count: r.body.count, status: 'ok' }
        : { count: 0, status: 'error', why: r.status ? `HTTP ${r.status}` : 'unreachable' },
    );
    renderStrip();
  }

  function renderStrip() {
    const strip = $('strip');
    const now = hostHourNow();
    const max = Math.max(1, ...state.strip.map((c) => c.count));
    strip.replaceChildren();
    strip.dataset.currentHour = String(now);
    state.strip.forEach((cell, hour) => {
      const el = document.createElement('button');
      el.type = 'button';
      el.className = 'cell';
      el.setAttribute('role', 'listitem');
      el.dataset.hour = String(hour);
      el.dataset.count = String(cell.count);
      const yesterday = hour > now;
      let label;
      if (cell.status === 'error') {
        el.classList.add('err');
        el.dataset.state = 'error';
        label = `could not load (${cell.why})`;
      } else if (cell.count === 0) {
        el.classList.add('gap');
        el.dataset.state = 'gap';
        label = 'no recording';
      } else {
        const level = Math.min(4, Math.max(1, Math.ceil((4 * cell.count) / max)));
        el.classList.add(`l${level}`);
        el.dataset.state = 'ok';
        label = `${cell.count} thumbnail${cell.count === 1 ? '' : 's'}`;
      }
      if (hour === now) el.classList.add('current');
      if (yesterday) el.classList.add('old');
      if (hour === state.hour) el.classList.add('selected');
      el.title = `${pad2(hour)}:00–${pad2(hour)}:59 ${yesterday ? '(yesterday)' : '(today)'}: ${label}`;
      el.setAttribute('aria-label', el.title);
      const h = document.createElement('span');
      h.className = 'h';
      h.textContent = pad2(hour);
      const c = document.createElement('span');
      c.className = 'c';
      c.textContent = cell.status === 'error' ? '?' : cell.count === 0 ? '–' : shortCount(cell.count);
      el.append(h, c);
      if (hour === now) {
        const tag = document.createElement('span');
        tag.className = 'now';
        tag.textContent = 'now';
        el.append(tag);
      }
      el.addEventListener('click', () => selectHour(hour));
      strip.append(el);
    });
    const errors = state.strip.filter((c) => c.status === 'error').length;
    if (errors) show($('strip-message'), `${errors} of 24 hours could not be loaded; retrying every ${STRIP_REFRESH_MS / 1000} s.`);
    else hide($('strip-message'));
  }

  // ---------- one hour: archived playback + thumbnails ----------

  async function selectHour(hour) {
    const gen = state.gen;
    state.hour = hour;
    const url = new URL(location.href);
    url.searchParams.set('hour', String(hour));
    history.replaceState(null, '', url);
    for (const el of document.querySelectorAll('.cell')) el.classList.toggle('selected', Number(el.dataset.hour) === hour);

    const view = $('hour-view');
    view.hidden = false;
    view.dataset.hour = String(hour);
    view.dataset.state = 'loading';
    const yesterday = hour > hostHourNow();
    $('hour-title').textContent = `${state.device} · ${pad2(hour)}:00–${pad2(hour)}:59 ${yesterday ? '(yesterday)' : '(today)'}`;
    hide($('hour-message'));
    stopArchive();
    $('archive').hidden = true;
    resetThumbs();
    $('thumbs-summary').textContent = 'Loading…';

    let thumbs;
    try {
      thumbs = await getJSON(thumbnailsApi(hour));
    } catch (_) {
      thumbs = { status: 0, ok: false, body: null };
    }
    if (gen !== state.gen || hour !== state.hour) return;
    $('thumbs-summary').textContent = '';
    if (!thumbs.ok || !thumbs.body || !Array.isArray(thumbs.body.thumbnails)) {
      view.dataset.state = 'error';
      show($('hour-message'), `Could not load the thumbnails of hour ${pad2(hour)} (${thumbs.status ? `HTTP ${thumbs.status}` : 'host unreachable'}).`, 'error');
      return;
    }
    const list = thumbs.body.thumbnails;
    if (list.length === 0) {
      // An empty hour: nothing was recorded (or it was cleaned up). No segments request either.
      view.dataset.state = 'empty';
      show($('hour-message'), `No recording in hour ${pad2(hour)}: the archive holds no thumbnails for ${pad2(hour)}:00–${pad2(hour)}:59.`, 'empty');
      return;
    }
    view.dataset.state = 'ok';
    state.thumbUrls = list;
    $('thumbs-summary').dataset.count = String(list.length);
    addThumbs();
    loadArchive(gen, hour);
  }

  async function loadArchive(gen, hour) {
    const box = $('archive');
    const overlay = $('archive-message');
    const video = $('archive-video');
    box.hidden = false;
    hide(overlay);
    let seg;
    try {
      seg = await getJSON(segmentsApi(hour));
    } catch (_) {
      seg = { status: 0, ok: false, body: null };
    }
    if (gen !== state.gen || hour !== state.hour) return;
    if (!seg.ok || !seg.body || typeof seg.body.manifest_url !== 'string') {
      box.dataset.state = 'missing';
      const why = seg.status === 404 ? 'no video is archived for this hour' : `could not load (${seg.status ? `HTTP ${seg.status}` : 'host unreachable'})`;
      show(overlay, `Playback: ${why}.`);
      return;
    }
    box.dataset.state = 'ok';
    video.dataset.manifest = seg.body.manifest_url;
    $('archive-info').textContent = 'Recording of this hour: press play, drag the bar to seek.';
    state.archiveHls = attachHls(video, seg.body.manifest_url, {
      live: false,
      onError: (why) => {
        if (gen !== state.gen || hour !== state.hour) return;
        box.dataset.state = 'error';
        show(overlay, `Playback failed: ${why}.`);
      },
    });
  }

  // Under the archived video: where playback is, as the host's wall-clock time (PROGRAM-DATE-TIME).
  function renderArchiveInfo() {
    const video = $('archive-video');
    if (!state.archiveHls || !video.dataset.manifest) return;
    const fmt = (sec) => `${Math.floor(sec / 60)}:${pad2(Math.floor(sec % 60))}`;
    const date = state.archiveHls.playingDate();
    const dur = Number.isFinite(video.duration) ? ` / ${fmt(video.duration)}` : '';
    let text = `Position ${fmt(video.currentTime)}${dur}`;
    if (date) text += ` · recorded at ${hostTimeText(date)}`;
    $('archive-info').textContent = text;
  }

  function stopArchive() {
    if (state.archiveHls) state.archiveHls.destroy();
    state.archiveHls = null;
    const video = $('archive-video');
    delete video.dataset.manifest;
    $('archive').dataset.state = '';
    $('archive-info').textContent = '';
  }

  function resetThumbs() {
    if (state.thumbObserver) state.thumbObserver.disconnect();
    state.thumbObserver = null;
    state.thumbUrls = [];
    state.thumbShown = 0;
    $('thumbs').replaceChildren();
    $('thumbs-more').hidden = true;
    delete $('thumbs-summary').dataset.count;
  }

  // Thumbnails are added THUMB_PAGE at a time (an hour can hold thousands), each <img> loading lazily.
  function addThumbs() {
    const grid = $('thumbs');
    const end = Math.min(state.thumbUrls.length, state.thumbShown + THUMB_PAGE);
    for (let i = state.thumbShown; i < end; i += 1) {
      const url = state.thumbUrls[i];
      const a = document.createElement('a');
      a.href = url;
      a.target = '_blank';
      a.rel = 'noopener';
      const img = document.createElement('img');
      img.loading = 'lazy';
      img.decoding = 'async';
      img.src = url;
      img.alt = url.split('/').pop();
      img.title = img.alt;
      a.append(img);
      grid.append(a);
    }
    state.thumbShown = end;
    const total = state.thumbUrls.length;
    $('thumbs-summary').textContent = `${total} thumbnail${total === 1 ? '' : 's'} · showing ${end}`;
    const more = $('thumbs-more');
    more.hidden = end >= total;
    if (!more.hidden && 'IntersectionObserver' in window && !state.thumbObserver) {
      state.thumbObserver = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting)) addThumbs();
      }, { rootMargin: '400px' });
      state.thumbObserver.observe(more);
    }
    if (more.hidden && state.thumbObserver) {
      state.thumbObserver.disconnect();
      state.thumbObserver = null;
    }
  }

  // ---------- devices ----------

  function pageMessage(text) {
    show($('page-message'), text, 'error');
  }

  function deviceUnknownToHost() {
    stopDevice();
    $('device-view').hidden = true;
    pageMessage(`The host does not serve device "${state.device}" (HTTP 404). Pick another device above.`);
  }

  function stopDevice() {
    state.gen += 1;
    state.timers.forEach((cancel) => cancel());
    state.timers = [];
    if (state.liveHls) state.liveHls.destroy();
    state.liveHls = null;
    stopArchive();
    resetThumbs();
    if (state.liveObjectUrl) URL.revokeObjectURL(state.liveObjectUrl);
    state.liveObjectUrl = null;
    state.liveVersion = null;
    state.lastModifiedMs = null;
    state.liveError = null;
    state.strip = [];
    state.hour = null;
    $('live-img').removeAttribute('src');
    $('hour-view').hidden = true;
  }

  function startDevice(device, hour) {
    stopDevice();
    state.device = device;
    const gen = state.gen;
    hide($('page-message'));
    $('device-view').hidden = false;
    document.title = `hotcold · ${device}`;
    $('live-state').dataset.state = 'loading';
    $('live-state').textContent = 'loading…';
    pollLatest(gen);
    every(TICK_MS, () => {
      if (state.lastModifiedMs !== null || state.liveError) renderLiveAge();
    });
    startLiveVideo(gen);
    loadStrip(gen).then(() => {
      if (gen === state.gen && hour !== null) selectHour(hour);
    });
    every(STRIP_REFRESH_MS, () => loadStrip(gen));
    let shownHour = hostHourNow();
    every(1000, () => {
      if (hostHourNow() !== shownHour) {
        shownHour = hostHourNow();
        loadStrip(gen);
      }
    });
  }

  function fillPicker(devices, selected) {
    const select = $('device-select');
    select.replaceChildren();
    if (!devices.includes(selected)) {
      const opt = document.createElement('option');
      opt.value = '';
      opt.textContent = '— choose —';
      opt.selected = true;
      opt.disabled = true;
      select.append(opt);
    }
    for (const d of devices) {
      const opt = document.createElement('option');
      opt.value = d;
      opt.textContent = d;
      opt.selected = d === selected;
      select.append(opt);
    }
    select.onchange = () => {
      const url = new URL(location.href);
      url.searchParams.set('device', select.value);
      url.searchParams.delete('hour');
      history.replaceState(null, '', url);
      fillPicker(devices, select.value);
      startDevice(select.value, null);
    };
  }

  function parseConfig(body) {
    if (!body || !Array.isArray(body.devices) || !body.devices.every((d) => typeof d === 'string')) {
      throw new Error('devices.json has no "devices" list');
    }
    const maxAge = Number(body.max_capture_age_seconds);
    return {
      devices: body.devices,
      url_prefix: String(body.url_prefix || '/host/stream').replace(/\/+$/, ''),
      max_capture_age_seconds: Number.isFinite(maxAge) && maxAge > 0 ? maxAge : 3,
      timezone: typeof body.timezone === 'string' && body.timezone ? body.timezone : null,
    };
  }

  async function main() {
    $('host-name').textContent = location.host;
    $('thumbs-more-btn').addEventListener('click', () => addThumbs());
    for (const ev of ['timeupdate', 'seeked', 'loadedmetadata']) $('archive-video').addEventListener(ev, renderArchiveInfo);
    // The header clock runs for the page's lifetime (not in state.timers, which device switches clear).
    setInterval(() => {
      $('clock').textContent = hostClockText();
    }, 1000);
    let cfg;
    try {
      cfg = await getJSON('devices.json');
      if (!cfg.ok) throw new Error(`devices.json: HTTP ${cfg.status}`);
      state.config = parseConfig(cfg.body);
    } catch (err) {
      pageMessage(`This page could not read its device list (${err.message}).`);
      return;
    }
    $('clock').textContent = hostClockText();

    const params = new URLSearchParams(location.search);
    const devices = state.config.devices;
    if (devices.length === 0) {
      fillPicker(devices, null);
      pageMessage('This host has no capture devices configured.');
      return;
    }
    const wanted = params.has('device') ? params.get('device') : devices[0];
    fillPicker(devices, wanted);
    if (!devices.includes(wanted)) {
      state.device = wanted;
      pageMessage(`Unknown device "${wanted}". This host has: `);
      devices.forEach((d, i) => {
        const a = document.createElement('a');
        a.href = `?device=${encodeURIComponent(d)}`;
        a.textContent = d;
        $('page-message').append(i ? ', ' : '', a);
      });
      $('page-message').append('.');
      document.body.dataset.ready = '1';
      return;
    }
    const hourParam = params.get('hour');
    const hour = hourParam !== null && /^\d{1,2}$/.test(hourParam) && Number(hourParam) < 24 ? Number(hourParam) : null;
    startDevice(wanted, hour);
    document.body.dataset.ready = '1';
  }

  main();
})();
