// Intake's upload page: plain JavaScript, no framework, no external resources.
// It talks to the API under /v1 with the API key the person enters (sent as
// the X-API-Key header, never in a URL).
(function () {
  'use strict';

  var KEY_STORAGE = 'intake.apiKey';
  var ERRORS_PER_PAGE = 50;
  var nf = new Intl.NumberFormat('en-US');

  // ---------------------------------------------------------------- helpers

  function $(id) { return document.getElementById(id); }
  function fmt(n) { return nf.format(n || 0); }
  function show(el, on) { el.hidden = !on; }
  // reveal brings a card that just appeared into view: below the form it
  // starts under the fold of a laptop screen.
  function reveal(el) {
    var still = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    el.scrollIntoView({ behavior: still ? 'auto' : 'smooth', block: 'nearest' });
  }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === 'text') e.textContent = attrs[k];
        else if (k === 'className') e.className = attrs[k];
        else e.setAttribute(k, attrs[k]);
      });
    }
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function loadKey() {
    try { return localStorage.getItem(KEY_STORAGE) || ''; } catch (e) { return ''; }
  }
  function storeKey(k) {
    try {
      if (k) localStorage.setItem(KEY_STORAGE, k); else localStorage.removeItem(KEY_STORAGE);
    } catch (e) { /* storage disabled: the key lasts for this page only */ }
  }
  var apiKey = loadKey();

  function authHeaders(extra) {
    var h = { Accept: 'application/json' };
    if (extra) Object.keys(extra).forEach(function (k) { h[k] = extra[k]; });
    if (apiKey) h['X-API-Key'] = apiKey;
    return h;
  }

  // ApiError carries the HTTP status and a message for people.
  function ApiError(status, message, importId) {
    this.status = status;
    this.message = message;
    this.importId = importId || '';
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.name = 'ApiError';

  var statusText = {
    400: 'Bad request', 401: 'Not authenticated', 403: 'Not allowed', 404: 'Not found',
    409: 'Conflict', 410: 'Gone', 413: 'File too large', 422: 'Too many rows', 429: 'Too many attempts', 503: 'Unavailable'
  };

  // errorMessage turns an API answer (status and its {"error": ...} body) into
  // one sentence a person can act on.
  function errorMessage(status, body, retryAfter) {
    var text = body && typeof body.error === 'string' && body.error ? body.error : '';
    if (text && !/[.!?]$/.test(text)) text += '.';
    var msg = (statusText[status] || 'Error') + ' (HTTP ' + status + ')' + (text ? ': ' + text : '.');
    if (status === 401) msg += ' Enter a valid API key above.';
    else if (status === 403) msg += ' This API key lacks the capability for this.';
    else if (status === 429) msg += ' Try again in ' + (retryAfter || 'a few') + ' seconds.';
    return msg;
  }

  async function errorFrom(res) {
    var body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    return new ApiError(res.status, errorMessage(res.status, body, res.headers.get('Retry-After')), body && body.import_id);
  }

  async function api(path, opts) {
    opts = opts || {};
    var res;
    try {
      res = await fetch(path, { method: opts.method || 'GET', headers: authHeaders(), signal: opts.signal, cache: 'no-store' });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'Cannot reach the server: ' + e.message);
    }
    if (!res.ok) throw await errorFrom(res);
    return res.json();
  }

  function showMessage(text, kind) {
    var m = $('message');
    m.textContent = text || '';
    m.className = 'message' + (kind ? ' ' + kind : '');
    show(m, !!text);
  }

  // ------------------------------------------------ CSV (formulas neutralised)

  // safeCell is pkg/templates.SafeCell: a cell a spreadsheet would read as a
  // formula (starting with = + - @, their full-width forms, tab or CR) gets a
  // leading apostrophe, unless it is plainly a number or a phone number.
  var numberRe = /^[+-]?(\d+([.,]\d+)*|\d*\.\d+)([eE][+-]?\d+)?$/;
  var phoneRe = /^\+[\d ().\-\/]+$/;
  function phoneLike(v) {
    if (!phoneRe.test(v)) return false;
    var digits = v.replace(/\D/g, '').length;
    return digits >= 7 && digits <= 20;
  }
  function safeCell(v) {
    v = v == null ? '' : String(v);
    if (v === '') return v;
    var c = v.charAt(0);
    if ('=@\t\r\uFF1D\uFF20\uFF0B\uFF0D'.indexOf(c) >= 0) return "'" + v;
    if (c === '+' || c === '-') return numberRe.test(v) || phoneLike(v) ? v : "'" + v;
    return v;
  }
  function csvField(v) {
    v = safeCell(v);
    return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
  }
  // toCSV writes rows as RFC 4180 CSV with CRLF line ends.
  function toCSV(rows) {
    return rows.map(function (r) { return r.map(csvField).join(','); }).join('\r\n') + '\r\n';
  }
  function errorsCSV(errors) {
    var rows = [['row', 'field', 'code', 'message']];
    errors.forEach(function (e) { rows.push([String(e.row), e.field || '', e.code || '', e.message || '']); });
    return toCSV(rows);
  }

  // ------------------------------------------------------ server-sent events

  // sseParser returns a function fed with text; it calls onEvent(name, data)
  // for every complete event.
  function sseParser(onEvent) {
    var buf = '';
    return function (text) {
      buf += text;
      buf = buf.replace(/\r\n/g, '\n');
      var i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        var block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        var name = 'message', data = [];
        block.split('\n').forEach(function (line) {
          if (!line || line.charAt(0) === ':') return; // comment: heartbeat
          var c = line.indexOf(':');
          var field = c < 0 ? line : line.slice(0, c);
          var val = c < 0 ? '' : line.slice(c + 1);
          if (val.charAt(0) === ' ') val = val.slice(1);
          if (field === 'event') name = val;
          else if (field === 'data') data.push(val);
        });
        if (data.length) onEvent(name, data.join('\n'));
      }
    };
  }

  // streamEvents reads /v1/imports/{id}/events with fetch (so the key goes in
  // a header) and returns the "done" summary, or null if the stream ended
  // without one.
  async function streamEvents(id, onProgress, signal) {
    var res = await fetch('/v1/imports/' + encodeURIComponent(id) + '/events', {
      headers: authHeaders({ Accept: 'text/event-stream' }), signal: signal, cache: 'no-store'
    });
    if (!res.ok) throw await errorFrom(res);
    var done = null, failure = null;
    var feed = sseParser(function (name, data) {
      var v;
      try { v = JSON.parse(data); } catch (e) { return; }
      if (name === 'progress') onProgress(v);
      else if (name === 'done') done = v;
      else if (name === 'error') failure = v;
    });
    var reader = res.body.getReader();
    var dec = new TextDecoder();
    for (;;) {
      var r = await reader.read();
      if (r.done) break;
      feed(dec.decode(r.value, { stream: true }));
      if (done) { try { await reader.cancel(); } catch (e) { /* already closed */ } break; }
    }
    if (failure && !done) showMessage('The progress stream stopped: ' + failure.error + ' Still checking…', 'warn');
    return done;
  }

  // ----------------------------------------------------------------- schemas

  async function loadSchemas() {
    var sel = $('schema');
    var keep = sel.value || 'contacts';
    try {
      var body = await api('/v1/schemas');
      var names = (body.schemas || []).map(function (s) { return typeof s === 'string' ? s : s.name; }).filter(Boolean);
      if (!names.length) return;
      sel.textContent = '';
      names.forEach(function (n) { sel.appendChild(el('option', { value: n, text: n })); });
      sel.value = names.indexOf(keep) >= 0 ? keep : names.indexOf('contacts') >= 0 ? 'contacts' : names[0];
      setKeyStatus(apiKey ? 'Key accepted.' : '', 'ok');
      await loadKeys();
    } catch (e) {
      setKeyStatus(e.status === 401 || e.status === 403 ? e.message : 'Cannot load the schemas: ' + e.message, 'warn');
    }
  }

  function setKeyStatus(text, kind) {
    var k = $('key-status');
    k.textContent = text;
    k.className = 'help' + (kind ? ' ' + kind : '');
  }

  async function loadKeys() {
    var name = $('schema').value;
    var list = $('key-options');
    list.textContent = '';
    try {
      var s = await api('/v1/schemas/' + encodeURIComponent(name));
      var keys = s.keys || [];
      keys.forEach(function (k) { list.appendChild(el('option', { value: k })); });
      $('key').placeholder = keys.length ? 'default: ' + keys[0] + (keys.length > 1 ? ' (also: ' + keys.slice(1).join(', ') + ')' : '') : "the schema's default";
    } catch (e) {
      $('key').placeholder = "the schema's default";
    }
  }

  // ------------------------------------------------------------------ upload

  var chosenFile = null;
  var tracking = null; // AbortController of the import being followed

  function chooseFile(f) {
    chosenFile = f || null;
    $('file-name').textContent = f ? f.name + ' (' + humanBytes(f.size) + ')' : 'No file chosen.';
    $('drop-zone').classList.toggle('has-file', !!f);
    runPreview(true);
    if (f && !/\.(csv|tsv|txt|xlsx)$/i.test(f.name)) {
      showMessage('"' + f.name + '" does not look like a CSV or XLSX file; the server will check its content.', 'warn');
    } else {
      showMessage('');
    }
  }

  function humanBytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1024 / 1024).toFixed(1) + ' MiB';
  }

  // send posts the form with XMLHttpRequest, which reports upload progress.
  function send(form, onUpload) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open('POST', '/v1/imports');
      var h = authHeaders();
      Object.keys(h).forEach(function (k) { xhr.setRequestHeader(k, h[k]); });
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) onUpload(e.loaded, e.total); };
      xhr.onload = function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        resolve({ status: xhr.status, body: body, retryAfter: xhr.getResponseHeader('Retry-After') });
      };
      xhr.onerror = function () { reject(new ApiError(0, 'Cannot reach the server: the upload was interrupted.')); };
      xhr.send(form);
    });
  }

  async function upload(ev) {
    ev.preventDefault();
    if (!chosenFile) {
      showMessage('Choose a CSV or XLSX file first.', 'error');
      $('file').focus();
      return;
    }
    showMessage('');
    // Fields before the file: the server streams the file and needs the options first.
    var form = new FormData();
    form.append('schema', $('schema').value);
    form.append('mode', $('mode').value);
    var key = $('key').value.trim();
    if (key) form.append('key', key);
    if ($('dry-run').checked) form.append('dry_run', 'true');
    if ($('date-format').value) form.append('date_format', $('date-format').value);
    var mapping = mappingToSend();
    if (mapping) form.append('mapping', JSON.stringify(mapping));
    form.append('file', chosenFile, chosenFile.name);

    var button = $('upload-button');
    var ready = function () {
      button.disabled = false;
      button.textContent = 'Upload and import';
    };
    button.disabled = true;
    button.textContent = 'Uploading…';
    var t0 = Date.now();
    startProgress(chosenFile.name);
    try {
      var res = await send(form, function (loaded, total) {
        var bar = $('progress-bar');
        bar.max = total || 1;
        bar.value = loaded;
        $('progress-text').textContent = 'Uploading: ' + humanBytes(loaded) + ' of ' + humanBytes(total) +
          ' (' + Math.floor(100 * loaded / (total || 1)) + '%)';
      });
      ready(); // the rows are stored: another file may go while this one is processed
      if (res.status !== 202) {
        showMessage(errorMessage(res.status, res.body, res.retryAfter), 'error');
        if (res.body && res.body.import_id) {
          // Started, then stopped (e.g. over the row limit): its rows are accounted for.
          await follow(res.body.import_id, 0, t0);
        } else {
          show($('progress'), false);
        }
        return;
      }
      await follow(res.body.id, res.body.rows || 0, t0);
    } catch (e) {
      if (e.name !== 'AbortError') showMessage(e.message, 'error');
    } finally {
      ready();
    }
  }

  // ----------------------------------------------------------------- preview
  // The mapping step: after a file is chosen, the preview's suggested field
  // for each column, which the user may change; the upload sends only the
  // columns whose field differs from the suggestion.

  var preview = { seq: 0, columns: [], fields: [], suggested: {}, reasons: {}, chosen: {} };

  var reasonText = {
    given: 'your mapping', exact: 'same name as the field', alias: 'an alias of the field',
    known_export: 'a column of a known export', ignored: 'no field takes it'
  };

  // mappingToSend is {"<column>": "<field>" or null} for the columns changed
  // from the suggestion, or null when none is.
  function mappingToSend() {
    var out = {}, changed = false;
    preview.columns.forEach(function (c) {
      var ch = preview.chosen[c];
      if (ch !== undefined && ch !== (preview.suggested[c] || '')) {
        out[c] = ch === '' ? null : ch;
        changed = true;
      }
    });
    return changed ? out : null;
  }

  function previewFailed(text) {
    show($('mapping-step'), true);
    $('preview-error').textContent = text;
    show($('preview-error'), true);
  }

  // runPreview asks the server how the chosen file would import; fresh
  // forgets the choices (a new file or schema) and takes its suggestion.
  async function runPreview(fresh) {
    if (!chosenFile) { show($('mapping-step'), false); return; }
    if (fresh) preview.columns = [];
    var seq = ++preview.seq;
    var form = new FormData();
    form.append('schema', $('schema').value);
    form.append('mode', $('mode').value);
    var key = $('key').value.trim();
    if (key) form.append('key', key);
    var m = fresh ? null : mappingToSend();
    if (m) form.append('mapping', JSON.stringify(m));
    form.append('file', chosenFile, chosenFile.name);
    var res, body = null;
    try {
      res = await fetch('/v1/imports/preview', { method: 'POST', headers: authHeaders(), body: form, cache: 'no-store' });
      body = await res.json();
    } catch (e) {
      if (seq === preview.seq) previewFailed('No preview: ' + (res ? 'the answer was not JSON.' : 'cannot reach the server.'));
      return;
    }
    if (seq !== preview.seq) return; // a newer preview is under way
    if (res.status !== 200) { previewFailed('No preview: ' + errorMessage(res.status, body, res.headers.get('Retry-After'))); return; }
    if (fresh || !preview.columns.length) {
      preview.columns = body.header.slice();
      preview.fields = body.fields.slice();
      preview.suggested = {};
      preview.reasons = {};
      preview.chosen = {};
      body.mapping.columns.forEach(function (c) {
        preview.suggested[c.column] = c.field || '';
        preview.reasons[c.column] = (c.reason === 'known_export' && c.export ? 'a column of the ' + c.export + ' export' : (reasonText[c.reason] || c.reason)) +
          (c.note ? ' (' + c.note + ')' : '');
      });
    }
    renderPreview(body);
  }

  function renderPreview(p) {
    show($('mapping-step'), true);
    show($('preview-error'), false);
    var facts = [p.format.toUpperCase()];
    if (p.encoding) facts.push(p.encoding);
    if (p.delimiter) facts.push('delimiter ' + (p.delimiter === '\t' ? 'tab' : '"' + p.delimiter + '"'));
    if (p.header_row) facts.push('header on row ' + p.header_row);
    if (p.mapping.export) facts.push('looks like a ' + p.mapping.export + ' export');
    $('preview-facts').textContent = facts.join(' · ');
    var missing = $('mapping-missing');
    missing.textContent = p.missing.length ? 'No column provides ' + p.missing.join(', ') + ': every row would fail. Choose a column for it below.' : '';
    show(missing, p.missing.length > 0);

    var tbody = $('mapping-body');
    tbody.textContent = '';
    preview.columns.forEach(function (c) {
      var sel = el('select', { 'aria-label': 'Field for column ' + c, 'data-column': c });
      sel.appendChild(el('option', { value: '', text: 'ignore' }));
      preview.fields.forEach(function (f) { sel.appendChild(el('option', { value: f, text: f })); });
      var chosen = preview.chosen[c] !== undefined ? preview.chosen[c] : (preview.suggested[c] || '');
      sel.value = chosen;
      sel.addEventListener('change', function () {
        preview.chosen[c] = sel.value;
        runPreview(false);
      });
      var why = chosen !== (preview.suggested[c] || '') ?
        'your choice (suggested: ' + (preview.suggested[c] || 'ignore') + ')' : preview.reasons[c];
      tbody.appendChild(el('tr', null, [
        el('td', { class: 'mono', text: c }), el('td', null, [sel]), el('td', { class: 'why', text: why || '' })
      ]));
    });

    var pbody = $('preview-problems-body');
    pbody.textContent = '';
    var failing = 0;
    p.rows.forEach(function (r) {
      if (r.problems.length) failing++;
      r.problems.forEach(function (pr) {
        pbody.appendChild(el('tr', null, [
          el('td', { class: 'num', text: String(r.row) }), el('td', { text: pr.field || '' }),
          el('td', { text: pr.code || '' }), el('td', { text: pr.message })
        ]));
      });
    });
    show($('preview-problems'), failing > 0);
    var ok = $('preview-rows-ok');
    ok.textContent = failing ? '' : (p.rows.length ? 'The first ' + fmt(p.rows.length) + ' rows would import without problems.' : 'The file has no data rows.');
    show(ok, !failing);
  }

  // ---------------------------------------------------------------- progress

  function startProgress(name) {
    show($('summary'), false);
    $('progress-file').textContent = name || '';
    $('progress-bar').value = 0;
    $('progress-text').textContent = 'Uploading…';
    ['created', 'updated', 'skipped', 'failed'].forEach(function (k) { $('live-' + k).textContent = '0'; });
    show($('progress'), true);
    reveal($('progress'));
  }

  function renderProgress(v, knownRows, t0) {
    var total = Math.max(v.total || 0, knownRows || 0);
    var processed = v.processed || 0;
    var bar = $('progress-bar');
    bar.max = total || 1;
    bar.value = Math.min(processed, total || 1);
    var secs = t0 ? (Date.now() - t0) / 1000 : 0;
    var parts = [fmt(processed) + ' of ' + fmt(total) + ' rows'];
    if (total) parts.push(Math.floor(100 * processed / total) + '%');
    if (secs > 0.2 && processed) parts.push(fmt(Math.round(processed / secs)) + ' rows/s');
    $('progress-text').textContent = parts.join(' · ');
    ['created', 'updated', 'skipped', 'failed'].forEach(function (k) { $('live-' + k).textContent = fmt(v[k]); });
  }

  // follow shows an import's progress until it finishes, then its summary.
  async function follow(id, knownRows, t0) {
    if (tracking) tracking.abort();
    var ctrl = new AbortController();
    tracking = ctrl;
    show($('progress'), true);
    $('progress-text').textContent = 'Processing…';
    var onProgress = function (v) { if (tracking === ctrl) renderProgress(v, knownRows, t0); };
    var final = null;
    try {
      final = await streamEvents(id, onProgress, ctrl.signal);
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e.status === 404 || e.status === 401 || e.status === 403) {
        showMessage(e.message, 'error');
        show($('progress'), false);
        return;
      }
      // Otherwise fall back to polling below.
    }
    while (!final) {
      if (ctrl.signal.aborted) return;
      var v;
      try {
        v = await api('/v1/imports/' + encodeURIComponent(id) + '?wait=10s', { signal: ctrl.signal });
      } catch (e) {
        if (e.name === 'AbortError') return;
        showMessage(e.message, 'error');
        if (e.status >= 400 && e.status < 500) { show($('progress'), false); return; }
        await new Promise(function (r) { setTimeout(r, 2000); });
        continue;
      }
      onProgress(v);
      if (v.status !== 'processing') final = v;
    }
    if (tracking !== ctrl) return;
    tracking = null;
    renderProgress(final, knownRows, t0);
    show($('progress'), false);
    showSummary(final);
    loadRecent();
  }

  // ----------------------------------------------------------------- summary

  var current = { id: '', result: 'failed', errors: [], page: 0 };

  function showSummary(v) {
    var status = $('summary-status');
    status.textContent = v.status;
    status.className = 'status ' + v.status;
    var counts = ['total', 'created', 'updated', 'skipped', 'failed', 'deleted'];
    counts.forEach(function (k) { $('sum-' + k).textContent = fmt(v[k]); });
    show($('sum-deleted-item'), v.mode === 'replace' || v.deleted > 0);
    var headline;
    if (v.status === 'processing') headline = 'Still processing: ' + fmt(v.processed) + ' of ' + fmt(v.total) + ' rows so far.';
    else if (v.status === 'failed') headline = 'The import failed.';
    else if (v.failed) headline = 'Completed, with ' + fmt(v.failed) + ' failed ' + (v.failed === 1 ? 'row' : 'rows') + '.';
    else headline = 'Completed: every row was imported or deliberately skipped.';
    if (v.mode === 'undo') headline = undoHeadline(v);
    if (v.dry_run) headline += ' This was a dry run: nothing was written.';
    $('summary-headline').textContent = headline;
    var reason = $('summary-reason');
    reason.textContent = v.reason || '';
    reason.className = 'message error';
    show(reason, !!v.reason);
    // Warnings (e.g. a date column read month first for want of evidence) join the notice.
    var notes = [v.notice].concat((v.warnings || []).map(function (w) { return w.message; })).filter(Boolean);
    $('summary-notice').textContent = notes.join(' ');
    show($('summary-notice'), notes.length > 0);
    $('summary-id').textContent = v.id;
    $('summary-source').textContent = v.source || '—';
    $('summary-schema').textContent = v.schema || '—';
    $('summary-mode').textContent = (v.mode || '—') + (v.dry_run ? ' (dry run)' : '');
    $('summary-key').textContent = v.key || '—';
    $('summary-started').textContent = v.created_at ? new Date(v.created_at).toLocaleString() : '—';
    var took = '—';
    if (v.created_at && v.completed_at) {
      var secs = Math.max(0, (Date.parse(v.completed_at) - Date.parse(v.created_at)) / 1000);
      took = secs.toFixed(secs < 10 ? 1 : 0) + ' s';
      if (secs > 0 && v.total) took += ' (' + fmt(Math.round(v.total / secs)) + ' rows/s)';
    }
    $('summary-took').textContent = took;
    show($('summary'), true);
    reveal($('summary'));

    // The failed rows as uploaded, to fix and upload again: known once the
    // import has finished.
    var failedRows = $('download-failed-rows');
    failedRows.href = failedRowsPath(v.id);
    failedRows.download = v.id + '-failed.csv';
    show(failedRows, v.failed > 0 && v.status !== 'processing');

    // Undo: offered under a finished import that wrote something and was
    // not undone yet; an undo itself cannot be undone.
    show($('undo-button'), v.status !== 'processing' && !v.dry_run && v.mode !== 'undo' && !v.undone_by);
    $('undo-note').textContent = v.undone_by ? 'Undone by ' + v.undone_by + '.' : '';
    show($('undo-note'), !!v.undone_by);

    var result = v.failed || !skippedOf(v) ? 'failed' : 'skipped';
    $('show-' + result).checked = true;
    loadErrors(v, result);
  }

  // skippedOf is how many rows (an undo: records kept) are listed as skipped.
  function skippedOf(v) { return v.mode === 'undo' ? v.kept : v.skipped; }

  function undoHeadline(v) {
    return (v.status === 'processing' ? 'Undoing ' : 'Undo of ') + v.undo_of + ': ' + fmt(v.reversed) + ' records reversed, ' +
      fmt(v.kept) + ' kept (another import wrote them since: see Skipped rows), ' + fmt(v.failed) + ' failed.';
  }

  async function undoImport() {
    var v = current.summary;
    if (!v) return;
    var ok = window.confirm('Undo import ' + v.id + '? The records it created are deleted, the fields it changed get their ' +
      'earlier values back and the records its replace deleted come back. Records another import changed since are kept as they are. ' +
      'An undo cannot itself be undone.');
    if (!ok) return;
    showMessage('');
    try {
      var u = await api('/v1/imports/' + encodeURIComponent(v.id) + '/undo', { method: 'POST' });
      openImport(u.id);
    } catch (e) {
      showMessage(e.message, 'error');
    }
  }

  async function loadErrors(v, result) {
    current = { id: v.id, result: result, errors: [], page: 0, summary: v };
    var count = result === 'failed' ? v.failed : skippedOf(v);
    if (!count) { renderErrors(); return; }
    $('errors-empty').textContent = 'Loading…';
    try {
      // Page by page (1,000 problems each), shown as they arrive.
      var path = '/v1/imports/' + encodeURIComponent(v.id) + '/errors?result=' + result + '&limit=1000&after=';
      var after = '';
      do {
        var body = await api(path + encodeURIComponent(after));
        if (current.id !== v.id || current.result !== result) return;
        current.errors = current.errors.concat(body.errors || []);
        after = body.next || '';
        if (after) renderErrors();
      } while (after);
    } catch (e) {
      if (current.id !== v.id || current.result !== result) return;
      current.errors = [];
      $('errors-empty').textContent = e.message;
      renderErrors(true);
      return;
    }
    renderErrors();
  }

  function renderErrors(keepMessage) {
    var errors = current.errors;
    var pages = Math.max(1, Math.ceil(errors.length / ERRORS_PER_PAGE));
    current.page = Math.min(Math.max(0, current.page), pages - 1);
    var body = $('errors-body');
    body.textContent = '';
    errors.slice(current.page * ERRORS_PER_PAGE, (current.page + 1) * ERRORS_PER_PAGE).forEach(function (e) {
      body.appendChild(el('tr', null, [
        el('td', { className: 'num', text: String(e.row) }),
        el('td', { text: e.field || '' }),
        el('td', { className: 'mono', text: e.code || '' }),
        el('td', { text: e.message || '' })
      ]));
    });
    if (!keepMessage) $('errors-empty').textContent = current.result === 'failed' ? 'No failed rows.' : 'No skipped rows.';
    show($('errors-empty'), !errors.length);
    show($('errors-table'), errors.length > 0);
    $('download-errors').disabled = !errors.length;
    show($('errors-pager'), pages > 1);
    var first = current.page * ERRORS_PER_PAGE + 1;
    var last = Math.min(errors.length, (current.page + 1) * ERRORS_PER_PAGE);
    $('errors-page').textContent = 'Page ' + (current.page + 1) + ' of ' + pages + ' (problems ' + fmt(first) + '–' + fmt(last) + ' of ' + fmt(errors.length) + ')';
    $('errors-prev').disabled = current.page === 0;
    $('errors-next').disabled = current.page >= pages - 1;
  }

  function downloadErrors() {
    if (!current.errors.length) return;
    var blob = new Blob([errorsCSV(current.errors)], { type: 'text/csv;charset=utf-8' });
    var url = URL.createObjectURL(blob);
    var a = el('a', { href: url, download: current.id + '-' + current.result + '-rows.csv' });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }

  function failedRowsPath(id) {
    return '/v1/imports/' + encodeURIComponent(id) + '/failed.csv';
  }

  // downloadFailedRows fetches the failed-rows file with the API key (a
  // plain link would go without it) and saves it under the link's name.
  async function downloadFailedRows(ev) {
    ev.preventDefault();
    var link = ev.currentTarget;
    var res;
    try {
      res = await fetch(link.getAttribute('href'), { headers: authHeaders({ Accept: 'text/csv' }), cache: 'no-store' });
    } catch (e) {
      showMessage('Cannot reach the server: ' + e.message, 'error');
      return;
    }
    if (!res.ok) { showMessage((await errorFrom(res)).message, 'error'); return; }
    var url = URL.createObjectURL(await res.blob());
    var a = el('a', { href: url, download: link.download });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }

  // ------------------------------------------------------------ recent list

  async function loadRecent() {
    try {
      var body = await api('/v1/imports?limit=20');
      renderRecent(body.imports || []);
    } catch (e) {
      $('recent-empty').textContent = e.status === 401 || e.status === 403
        ? 'Enter a valid API key above to see the imports.'
        : 'Cannot list the imports: ' + e.message;
      show($('recent-empty'), true);
      show($('recent-table'), false);
    }
  }

  function renderRecent(list) {
    var body = $('recent-body');
    body.textContent = '';
    list.forEach(function (v) {
      var open = el('button', { type: 'button', className: 'link', 'data-id': v.id, text: v.source || v.id });
      open.addEventListener('click', function () { openImport(v.id); });
      var label = el('span', { className: 'sub', text: [v.schema, v.mode, v.dry_run ? 'dry run' : ''].filter(Boolean).join(' · ') });
      var idLine = el('span', { className: 'sub mono', text: v.id });
      body.appendChild(el('tr', null, [
        el('td', null, [open, label, idLine]),
        el('td', null, [el('span', { className: 'status ' + v.status, text: v.status })]),
        el('td', { className: 'num', text: fmt(v.total) }),
        el('td', { className: 'num', text: fmt(v.created) }),
        el('td', { className: 'num', text: fmt(v.updated) }),
        el('td', { className: 'num', text: fmt(v.skipped) }),
        el('td', { className: 'num', text: fmt(v.failed) }),
        el('td', { text: v.created_at ? shortDate(v.created_at) : '' })
      ]));
    });
    $('recent-empty').textContent = 'No imports yet.';
    show($('recent-empty'), !list.length);
    show($('recent-table'), list.length > 0);
  }

  function shortDate(s) {
    try {
      return new Date(s).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
    } catch (e) {
      return new Date(s).toLocaleString();
    }
  }

  async function openImport(id) {
    showMessage('');
    try {
      var v = await api('/v1/imports/' + encodeURIComponent(id));
      if (v.status === 'processing') {
        startProgress(v.source || v.id);
        follow(v.id, v.total, 0);
        return;
      }
      if (tracking) { tracking.abort(); tracking = null; }
      show($('progress'), false);
      showSummary(v);
      $('summary').scrollIntoView({ block: 'start' });
      $('summary-title').focus({ preventScroll: true });
    } catch (e) {
      showMessage(e.message, 'error');
    }
  }

  // ------------------------------------------------------------------ wiring

  function init() {
    $('api-key').value = apiKey;
    $('summary-title').tabIndex = -1;
    $('key-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      apiKey = $('api-key').value.trim();
      storeKey(apiKey);
      setKeyStatus(apiKey ? 'Checking the key…' : 'No key: requests go without one.', '');
      loadSchemas();
      loadRecent();
    });
    $('forget-key').addEventListener('click', function () {
      apiKey = '';
      storeKey('');
      $('api-key').value = '';
      setKeyStatus('Key forgotten.', '');
      loadSchemas();
      loadRecent();
    });
    $('schema').addEventListener('change', loadKeys);
    $('schema').addEventListener('change', function () { runPreview(true); });
    $('mode').addEventListener('change', function () { runPreview(false); });
    $('key').addEventListener('change', function () { runPreview(false); });
    $('file').addEventListener('change', function () { chooseFile(this.files[0]); });
    var zone = $('drop-zone');
    ['dragenter', 'dragover'].forEach(function (t) {
      zone.addEventListener(t, function (ev) { ev.preventDefault(); zone.classList.add('dragging'); });
    });
    ['dragleave', 'drop'].forEach(function (t) {
      zone.addEventListener(t, function (ev) { ev.preventDefault(); zone.classList.remove('dragging'); });
    });
    zone.addEventListener('drop', function (ev) {
      var files = ev.dataTransfer && ev.dataTransfer.files;
      if (files && files.length) chooseFile(files[0]);
    });
    $('upload-form').addEventListener('submit', upload);
    $('download-errors').addEventListener('click', downloadErrors);
    $('download-failed-rows').addEventListener('click', downloadFailedRows);
    $('undo-button').addEventListener('click', undoImport);
    $('errors-prev').addEventListener('click', function () { current.page--; renderErrors(); });
    $('errors-next').addEventListener('click', function () { current.page++; renderErrors(); });
    document.querySelectorAll('input[name="errors-result"]').forEach(function (r) {
      r.addEventListener('change', function () { if (current.summary) loadErrors(current.summary, this.value); });
    });
    $('refresh-imports').addEventListener('click', loadRecent);
    loadSchemas();
    loadRecent();
  }

  // For tests and the curious.
  window.IntakeUI = { safeCell: safeCell, toCSV: toCSV, errorsCSV: errorsCSV, sseParser: sseParser, errorMessage: errorMessage, mappingToSend: mappingToSend };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
