// Loads the app's wasm module; on failure, says so instead of leaving a blank page.
import init from '/phiveil_web.js';

init().catch((e) => {
  const p = document.createElement('p');
  p.className = 'error';
  p.setAttribute('role', 'alert');
  p.textContent = `phiveil could not start in this browser: ${e?.message ?? e}`;
  document.body.append(p);
});
