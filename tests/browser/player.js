// SPDX-License-Identifier: LGPL-2.1-or-later
//
// In-page half of the playback harness: play.js calls weStart() and then
// waits for weState.done, and reads weReport() at the end.
'use strict';

// media seconds buffered ahead before playback goes faster than 1x
const RAMP_AHEAD = 4;

const weState = {
  done: false,
  reason: null, // 'ended' | 'fatal'
  started: false,
  inStall: false,
  stalls: 0,
  errors: [],
  fatal: false,
  levels: [],
  levelsPlayed: new Set(),
  levelSwitches: 0,
  lastLevel: null,
  lastTime: 0,
  audioTracks: [],
  subtitleTracks: [],
  subtitleFrags: 0,
};

function weFinish(reason) {
  if (!weState.done) {
    weState.reason = reason;
    // what the player does after the end (dash.js was seen seeking back
    // half a second) is not part of the playback being judged
    weState.final = weSnapshot();
    weState.done = true;
  }
}

function weError(text, fatal) {
  weState.errors.push(fatal ? text + ' (fatal)' : text);
  if (fatal) {
    weState.fatal = true;
    weFinish('fatal');
  }
}

// The media element fires `waiting` and the player reports its own stall for
// the same hole, often both; one episode lasts until playback moves again, so
// each real stall counts once whichever noticed it first.
function weStall(source) {
  if (!weState.started || weState.inStall || weState.done)
    return;
  weState.inStall = true;
  weState.stalls++;
  weState.stallSources = weState.stallSources || [];
  // with what was buffered ahead: a stall with data there is the
  // decoder's (a starved machine), not a hole in the media
  const video = document.getElementById('video');
  const t = video.currentTime;
  let ahead = 0;
  for (let i = 0; i < video.buffered.length; i++) {
    if (video.buffered.start(i) <= t + 0.05 && video.buffered.end(i) > t)
      ahead = video.buffered.end(i) - t;
  }
  weState.stallSources.push(source + '@' + t.toFixed(2) + '+' + ahead.toFixed(2));
}

function weLevel(index) {
  if (index === null || index === undefined || index < 0)
    return;
  weState.levelsPlayed.add(index);
  if (weState.lastLevel !== null && weState.lastLevel !== index)
    weState.levelSwitches++;
  weState.lastLevel = index;
}

function weWatchVideo(video, rate) {
  video.addEventListener('playing', () => {
    weState.started = true;
    weState.inStall = false;
  });
  video.addEventListener('waiting', () => weStall('waiting'));
  video.addEventListener('timeupdate', () => {
    if (video.currentTime > weState.lastTime) {
      weState.lastTime = video.currentTime;
      weState.inStall = false;
    }
  });
  // Playing at the test's rate from the first frame starves the player: at
  // 4x dash.js used up its first 2 s segment in half a second, before it had
  // asked for the next, and the harness counted its own stall. So the rate
  // goes up only once RAMP_AHEAD s (or the rest of the stream) are buffered;
  // a hole in the media stays a stall whatever the rate.
  const maybeRamp = () => {
    if (weState.rampedAt === undefined) {
      const t = video.currentTime;
      const left = video.duration - t;
      let ahead = 0;
      for (let i = 0; i < video.buffered.length; i++) {
        if (video.buffered.start(i) <= t + 0.1 && video.buffered.end(i) > t)
          ahead = video.buffered.end(i) - t;
      }
      if (!(ahead >= Math.min(RAMP_AHEAD, left - 0.1)))
        return;
      weState.rampedAt = t;
    }
    // the players reset the rate when they attach; set it again if so
    if (video.playbackRate !== rate) {
      video.defaultPlaybackRate = rate;
      video.playbackRate = rate;
    }
  };
  for (const ev of ['progress', 'timeupdate', 'playing', 'loadedmetadata'])
    video.addEventListener(ev, maybeRamp);
  video.addEventListener('ended', () => weFinish('ended'));
  video.addEventListener('seeking', () => {
    weState.seeks = weState.seeks || [];
    weState.seeks.push(weState.lastTime.toFixed(2) + '->' + video.currentTime.toFixed(2));
  });
  video.addEventListener('error', () => {
    const e = video.error;
    weError('media:' + (e ? e.code + ':' + e.message : 'unknown'), true);
  });
}

function weTrackList(tracks) {
  return (tracks || []).map((t) => ({ lang: t.lang || null, name: t.name || null }));
}

function weStartHls(video, url, headers, subtitles) {
  if (!window.Hls || !Hls.isSupported()) {
    weError('hls:not supported (no MSE?)', true);
    return;
  }
  const names = Object.keys(headers);
  const hls = new Hls({
    debug: false,
    enableWorker: true,
    subtitlePreference: subtitles ? { lang: subtitles } : undefined,
    xhrSetup: (xhr, u) => {
      // headers can only be set once the request is opened; hls.js opens it
      // itself only when xhrSetup left it unopened
      if (!xhr.readyState)
        xhr.open('GET', u, true);
      for (const n of names)
        xhr.setRequestHeader(n, headers[n]);
    },
    fetchSetup: (context, init) => {
      const h = new Headers(init.headers || {});
      for (const n of names)
        h.set(n, headers[n]);
      return new Request(context.url, Object.assign({}, init, { headers: h }));
    },
  });
  window.weHls = hls;
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
    weState.levels = data.levels.map((l) => ({
      width: l.width || null, height: l.height || null, bitrate: l.bitrate || null,
    }));
  });
  hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, (_e, data) => {
    weState.audioTracks = weTrackList(data.audioTracks);
  });
  // the subtitle track is loaded only once one is selected: the one in the
  // language asked for, shown
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_e, data) => {
    weState.subtitleTracks = weTrackList(data.subtitleTracks);
    const i = subtitles ? data.subtitleTracks.findIndex((t) => t.lang === subtitles) : -1;
    if (i >= 0) {
      hls.subtitleDisplay = true;
      hls.subtitleTrack = i;
    }
  });
  hls.on(Hls.Events.SUBTITLE_FRAG_PROCESSED, (_e, data) => {
    if (data.success)
      weState.subtitleFrags++;
  });
  hls.on(Hls.Events.FRAG_BUFFERED, (_e, data) => {
    if (data.frag && data.frag.type === 'main')
      weLevel(data.frag.level);
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR && !data.fatal) {
      weStall('hls:' + data.details);
      return;
    }
    let text = 'hls:' + data.type + ':' + data.details;
    if (data.response && data.response.code)
      text += ':' + data.response.code;
    else if (data.error && data.error.message)
      text += ':' + data.error.message;
    // which fragment: audio and main playlists fail differently
    if (data.frag && data.frag.sn !== undefined)
      text += ' [' + data.frag.type + ' ' + data.frag.sn + ']';
    weError(text, !!data.fatal);
  });
  hls.loadSource(url);
  hls.attachMedia(video);
}

// dash.js reports everything as `error`; these codes leave nothing to play
// (manifest, init segment, addressing, MSE capability, append, DRM), the
// others (a media segment that failed its retries, time sync, text) it works
// around or stalls on, which the stall count shows.
const DASH_FATAL = new Set([10, 11, 12, 15, 19, 20, 23, 24, 25, 26, 28, 29, 31, 32, 34, 35]);

function weStartDash(video, url, headers, subtitles) {
  if (!window.dashjs) {
    weError('dash:dash.js not loaded', true);
    return;
  }
  const player = dashjs.MediaPlayer().create();
  window.weDash = player;
  const E = dashjs.MediaPlayer.events;
  const names = Object.keys(headers);
  if (names.length) {
    player.addRequestInterceptor((req) => {
      req.headers = Object.assign({}, req.headers || {}, headers);
      return Promise.resolve(req);
    });
  }
  player.on(E.STREAM_INITIALIZED, () => {
    weState.audioTracks = weTrackList(player.getTracksFor('audio'));
    const text = player.getTracksFor('text') || [];
    weState.subtitleTracks = weTrackList(text);
    const i = subtitles ? text.findIndex((x) => x.lang === subtitles) : -1;
    if (i >= 0) {
      player.enableText(true);
      player.setTextTrack(i);
    }
    let reps = player.getRepresentationsByType('video') || [];
    if (!reps.length)
      reps = player.getRepresentationsByType('audio') || [];
    weState.levels = reps.map((r) => ({
      width: r.width || null, height: r.height || null, bitrate: r.bandwidth || null,
    }));
    const cur = player.getCurrentRepresentationForType('video');
    if (cur)
      weLevel(cur.absoluteIndex !== undefined ? cur.absoluteIndex : cur.index);
  });
  player.on(E.QUALITY_CHANGE_RENDERED, (e) => {
    if (e.mediaType === 'video' && e.newRepresentation) {
      const r = e.newRepresentation;
      weLevel(r.absoluteIndex !== undefined ? r.absoluteIndex : r.index);
    }
  });
  // bufferStalled is a buffer level under a threshold, and dash.js was seen
  // sending it just after playback started with data enough to go on; it is
  // a stall when playback then really does not move
  player.on(E.BUFFER_EMPTY, (e) => {
    const at = video.currentTime;
    setTimeout(() => {
      if (video.currentTime === at && !video.paused && !video.seeking && !video.ended)
        weStall('dash:bufferStalled:' + (e.mediaType || ''));
    }, 300);
  });
  // dash.js can announce the end on its own (seen at 5.5 s of 6, at rate 4)
  // while the element has not got there; only the element's `ended` counts
  player.on(E.PLAYBACK_ENDED, () => {
    weState.playerEndedAt = video.currentTime;
  });
  player.on(E.ERROR, (e) => {
    const err = e.error || {};
    let text = 'dash:' + (err.code !== undefined ? err.code : '?') + ':' + (err.message || '');
    weError(text, DASH_FATAL.has(err.code) || err.code >= 100);
  });
  player.on(E.PLAYBACK_ERROR, (e) => {
    const err = e.error || {};
    weError('dash:playback:' + (err.code || '') + ':' + (err.message || ''), true);
  });
  player.updateSettings({ debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING } });
  // the initial text language is a setting of an initialized player, and
  // must be there before the source is
  player.initialize(video, null, true);
  if (subtitles)
    player.setInitialMediaSettingsFor('text', { lang: subtitles });
  player.attachSource(url);
}

window.weStart = function (opts) {
  const video = document.getElementById('video');
  video.muted = true;
  weWatchVideo(video, opts.rate);
  try {
    if (opts.kind === 'hls')
      weStartHls(video, opts.url, opts.headers, opts.subtitles);
    else if (opts.kind === 'dash')
      weStartDash(video, opts.url, opts.headers, opts.subtitles);
    else {
      // plain files: the headers are added by play.js's request route, a
      // media element cannot set any
      video.src = opts.url;
    }
    const p = video.play();
    if (p)
      p.catch((e) => {
        // MSE players start play() before a source exists; that rejection is
        // expected and autoplay takes over once data is there
        if (e.name !== 'AbortError' && e.name !== 'NotSupportedError')
          weError('play:' + e.name + ':' + e.message, false);
      });
  } catch (e) {
    weError('start:' + e.message, true);
  }
};

function weNum(x) {
  return (typeof x === 'number' && isFinite(x)) ? Math.round(x * 1000) / 1000 : null;
}

function weSnapshot() {
  const video = document.getElementById('video');
  const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
  return {
    ended: weState.reason === 'ended',
    reason: weState.reason,
    duration: weNum(video.duration),
    current_time: weNum(video.currentTime),
    stalls: weState.stalls,
    stall_sources: (weState.stallSources || []).slice(),
    errors: weState.errors.slice(),
    levels: weState.levels,
    levels_played: Array.from(weState.levelsPlayed).sort((a, b) => a - b),
    level_switches: weState.levelSwitches,
    fatal: weState.fatal,
    seeks: (weState.seeks || []).slice(),
    player_ended_at: weNum(weState.playerEndedAt),
    rate_from: weNum(weState.rampedAt),
    video: { width: video.videoWidth, height: video.videoHeight },
    frames: q ? { decoded: q.totalVideoFrames, dropped: q.droppedVideoFrames } : null,
    audio_tracks: weState.audioTracks,
    subtitle_tracks: weState.subtitleTracks,
    subtitle_frags: weState.subtitleFrags,
    // what reached the media element: cues in place, whichever player
    text_tracks: Array.from(video.textTracks).map((t) => ({
      language: t.language || null,
      mode: t.mode,
      cues: t.cues ? t.cues.length : 0,
      first_cue: t.cues && t.cues.length ? weNum(t.cues[0].startTime) : null,
    })),
  };
}

window.weReport = function () {
  return weState.final || weSnapshot();
};
