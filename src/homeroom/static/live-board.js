// The whiteboard: a canvas drawn from the room's strokes; pointer events make new ones (docs/live.md#pages).
//
// Points are normalised to [0, 1] × [0, 1] of a 4:3 board, so every screen draws the same
// picture; a stroke's width is in 1/800ths of the board's width. A stroke being drawn, and
// strokes sent but not yet back from the room, are drawn on top until the room's event comes.

const MAX_POINTS = 1000; // per stroke, as the protocol allows: a longer line is sent in pieces
const MIN_STEP = 0.002; // points closer than this to the previous one add nothing

export class Board {
  constructor(canvas, { onStroke }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onStroke = onStroke; // (stroke) => command id
    this.strokes = [];
    this.pending = new Map(); // command id -> stroke
    this.current = null;
    this.enabled = false;
    this.colour = "#1b1b1b";
    this.erase = false;
    this.width = 3;
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
    new ResizeObserver(() => this.resize()).observe(canvas);
  }

  setStrokes(strokes) {
    this.strokes = strokes;
    this.draw();
  }

  settle(id) {
    if (this.pending.delete(id)) this.draw();
  }

  setEnabled(on) {
    this.enabled = on;
    this.canvas.classList.toggle("lv-canvas-drawing", on);
  }

  resize() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(this.canvas.clientWidth * ratio);
    const height = Math.round((width * 3) / 4);
    if (width && (this.canvas.width !== width || this.canvas.height !== height)) {
      this.canvas.width = width;
      this.canvas.height = height;
      this.draw();
    }
  }

  point(event) {
    const box = this.canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, Math.round(v * 10000) / 10000));
    return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
  }

  down(event) {
    if (!this.enabled || event.button > 0) return;
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    this.current = { points: [this.point(event)], colour: this.colour, width: this.width, erase: this.erase };
    this.draw();
  }

  move(event) {
    if (!this.current) return;
    const [x, y] = this.point(event);
    const last = this.current.points[this.current.points.length - 1];
    if (Math.hypot(x - last[0], y - last[1]) < MIN_STEP) return;
    this.current.points.push([x, y]);
    if (this.current.points.length >= MAX_POINTS) this.send(true);
    this.draw();
  }

  up() {
    if (this.current) this.send(false);
    this.current = null;
    this.draw();
  }

  send(continues) {
    const stroke = this.current;
    const id = this.onStroke(stroke);
    if (id) this.pending.set(id, stroke);
    const last = stroke.points[stroke.points.length - 1];
    this.current = continues ? { ...stroke, points: [last] } : null;
  }

  draw() {
    const { ctx, canvas } = this;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (const stroke of this.strokes) this.line(stroke);
    for (const stroke of this.pending.values()) this.line(stroke);
    if (this.current) this.line(this.current);
  }

  line(stroke) {
    const { ctx, canvas } = this;
    const points = stroke.points;
    ctx.save();
    ctx.globalCompositeOperation = stroke.erase ? "destination-out" : "source-over";
    ctx.strokeStyle = stroke.colour;
    ctx.fillStyle = stroke.colour;
    ctx.lineWidth = Math.max(1, (stroke.width * canvas.width) / 800);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(points[0][0] * canvas.width, points[0][1] * canvas.height);
    if (points.length === 1) {
      ctx.arc(points[0][0] * canvas.width, points[0][1] * canvas.height, ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
    } else {
      for (const [x, y] of points.slice(1)) ctx.lineTo(x * canvas.width, y * canvas.height);
      ctx.stroke();
    }
    ctx.restore();
  }
}
