// The slides: pdf.js (served from /static/vendor/) draws the room's current page (docs/live.md#pages).
//
// pdf.js is loaded only when a class opens slides. One page is drawn at a time, at the canvas's
// width; a page change while one is being drawn cancels that drawing. The page's text goes in
// a <details> under the picture, for screen readers and for copying.

let pdfjs = null;

async function library(src, worker) {
  if (!pdfjs) {
    pdfjs = await import(src);
    pdfjs.GlobalWorkerOptions.workerSrc = worker;
  }
  return pdfjs;
}

export class Slides {
  constructor(canvas, textBox, { src, worker, docUrl, onError }) {
    this.canvas = canvas;
    this.textBox = textBox;
    this.src = src;
    this.worker = worker;
    this.docUrl = docUrl;
    this.onError = onError;
    this.doc = null; // the id of the document loaded
    this.loading = null; // a promise of the pdf.js document
    this.task = null;
    this.wanted = null;
  }

  async show(doc, page) {
    this.wanted = `${doc}:${page}`;
    try {
      if (doc !== this.doc) {
        this.doc = doc;
        const lib = await library(this.src, this.worker);
        this.loading = lib.getDocument({ url: this.docUrl + encodeURIComponent(doc), withCredentials: true }).promise;
      }
      const pdf = await this.loading;
      if (this.wanted !== `${doc}:${page}`) return; // another page was asked for meanwhile
      await this.draw(pdf, page, `${doc}:${page}`);
    } catch (error) {
      if (error && error.name === "RenderingCancelledException") return;
      this.doc = null;
      this.onError(error);
    }
  }

  async draw(pdf, number, key) {
    if (this.task) this.task.cancel();
    const page = await pdf.getPage(number);
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(200, this.canvas.parentElement.clientWidth);
    const base = page.getViewport({ scale: 1 });
    const viewport = page.getViewport({ scale: (width / base.width) * ratio });
    this.canvas.width = Math.floor(viewport.width);
    this.canvas.height = Math.floor(viewport.height);
    this.task = page.render({ canvas: this.canvas, canvasContext: this.canvas.getContext("2d"), viewport });
    await this.task.promise;
    this.task = null;
    if (this.wanted !== key) return;
    this.canvas.dataset.shown = key; // what is on screen now (the browser tests wait on it)
    const text = await page.getTextContent();
    this.textBox.textContent = text.items.map((item) => item.str).join(" ").trim() || "—";
  }
}
