// The ALTCHA widget of the waiting page with nothing inline (docs/operations.md#security-headers):
// its build without styles or workers inside (vendor/altcha.js, from altcha/dist/external), its
// styles in vendor/altcha.css, and its proof of work in a worker file served by this site, so the
// page's Content-Security-Policy allows scripts, styles and workers from 'self' only. The gate's
// challenges are SHA-256 (gate/abuse.py): that is the one algorithm registered.
import "./vendor/altcha.js";

const worker = new URL("./vendor/altcha-sha.js", import.meta.url);
globalThis.$altcha.algorithms.set("SHA-256", () => new Worker(worker));
