// The fcnkit serve page: pick or drop a photo, POST it to /v1/segment, show the overlay beside
// the original. Plain browser JavaScript, no dependencies, nothing loaded from elsewhere.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const drop = $('drop');
  const fileInput = $('file');
  const status = $('status');
  const original = $('original');
  const result = $('result');
  const toggle = $('mask-toggle');
  const download = $('download');
  const time = $('time');
  let photo = null; // the File being shown
  let originalUrl = null;
  let overlayUrl = null;
  let busy = false;

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle('error', Boolean(isError));
  }

  function swapUrl(old, blob) {
    if (old) URL.revokeObjectURL(old);
    return blob ? URL.createObjectURL(blob) : null;
  }

  // An error answer is JSON { error: { code, message } }.
  async function errorText(res) {
    try {
      const body = await res.json();
      if (body && body.error) return `${body.error.code}: ${body.error.message}`;
    } catch (e) { /* not JSON */ }
    return `HTTP ${res.status}`;
  }

  function segment(file, format) {
    const form = new FormData();
    form.append('image', file, file.name);
    return fetch(`v1/segment?format=${format}`, { method: 'POST', body: form });
  }

  // Server-Timing: "queue;dur=1.2, segment;dur=345.6" -> milliseconds segmenting.
  function serverMs(res) {
    const m = /segment;dur=([0-9.]+)/.exec(res.headers.get('Server-Timing') || '');
    return m ? Number(m[1]) : null;
  }

  async function show(file) {
    if (busy) return;
    if (file.type && !/^image\//.test(file.type)) {
      say(`${file.name} is not an image (${file.type}).`, true);
      return;
    }
    busy = true;
    photo = file;
    download.disabled = true;
    originalUrl = swapUrl(originalUrl, file);
    original.src = originalUrl;
    result.removeAttribute('src');
    result.dataset.state = 'pending';
    $('panes').hidden = false;
    $('actions').hidden = true;
    say(`Segmenting ${file.name}…`);
    const t0 = performance.now();
    try {
      const res = await segment(file, 'overlay');
      if (!res.ok) throw new Error(await errorText(res));
      overlayUrl = swapUrl(overlayUrl, await res.blob());
      const total = performance.now() - t0;
      const ms = serverMs(res);
      await new Promise((resolve, reject) => {
        result.onload = resolve;
        result.onerror = () => reject(new Error('the answer is not an image'));
        result.src = toggle.checked ? overlayUrl : originalUrl;
      });
      result.dataset.state = 'done';
      time.textContent = `${res.headers.get('X-Image-Width')}×${res.headers.get('X-Image-Height')} · ` +
        (ms !== null ? `${(ms / 1000).toFixed(2)} s on the server, ` : '') + `${(total / 1000).toFixed(2)} s in all`;
      $('actions').hidden = false;
      download.disabled = false;
      say('');
    } catch (err) {
      result.dataset.state = 'error';
      say(`Could not segment ${file.name}: ${err.message}`, true);
    } finally {
      busy = false;
    }
  }

  toggle.addEventListener('change', () => {
    if (overlayUrl) result.src = toggle.checked ? overlayUrl : originalUrl;
  });

  download.addEventListener('click', async () => {
    if (!photo) return;
    download.disabled = true;
    say('Making the label PNG…');
    try {
      const res = await segment(photo, 'labels');
      if (!res.ok) throw new Error(await errorText(res));
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = `${photo.name.replace(/\.[^.]*$/, '')}.labels.png`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      say('');
    } catch (err) {
      say(`Could not make the label PNG: ${err.message}`, true);
    } finally {
      download.disabled = false;
    }
  });

  fileInput.addEventListener('change', () => {
    if (fileInput.files && fileInput.files[0]) show(fileInput.files[0]);
    fileInput.value = '';
  });

  for (const type of ['dragenter', 'dragover']) {
    document.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
  }
  for (const type of ['dragleave', 'drop']) {
    document.addEventListener(type, (e) => {
      e.preventDefault();
      if (type === 'drop' || e.target === drop) drop.classList.remove('over');
    });
  }
  document.addEventListener('drop', (e) => {
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) show(file);
  });
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') fileInput.click();
  });

  fetch('v1/models').then(async (res) => {
    if (!res.ok) throw new Error(await errorText(res));
    const { models } = await res.json();
    const m = models[0];
    $('model-name').textContent = m.name;
    $('model-detail').textContent = `(${m.format}, ${m.device}, input ${m.inputSize[0]}×${m.inputSize[1]}` +
      (m.classes ? `, ${m.classes} classes` : '') + ')';
  }).catch((err) => {
    $('model-name').textContent = 'unknown';
    say(`Could not read the model: ${err.message}`, true);
  });
})();
