// The 3D view of the twin: three.js, GLTFLoader for twin.glb (embedded texture), OrbitControls to
// orbit and zoom. It fills its panel at the screen's own pixel density, says how much of the twin
// has arrived while it loads, orbits around the head (not the middle of the bust, which is the
// neck), turns and zooms from the keyboard too, resets, and goes full screen. `stats()` reads the
// drawn pixels back so tests (and a technician's sanity check) can tell a rendered subject from an
// empty backdrop.
import * as THREE from 'three';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';

const BACKGROUND = 0x20232a;
// Sharper than the screen buys nothing but slower frames on a tablet.
const MAX_PIXEL_RATIO = 2;
const KEY_TURN = THREE.MathUtils.degToRad(15);
const KEY_ZOOM = 1.2;
// A head is about a quarter of a metre tall; the twin is in metres.
const HEAD_HEIGHT_M = 0.25;

export class TwinViewer {
  constructor(container) {
    this.container = container;
    this.renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, MAX_PIXEL_RATIO));
    this.renderer.outputColorSpace = THREE.SRGBColorSpace;
    this.renderer.setClearColor(BACKGROUND, 1);
    this.scene = new THREE.Scene();
    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x444444, 2.0));
    const key = new THREE.DirectionalLight(0xffffff, 1.5);
    key.position.set(1, 1, 2);
    this.scene.add(key);
    this.camera = new THREE.PerspectiveCamera(35, 1, 0.01, 100);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.enableDamping = false;
    this.controls.addEventListener('change', () => this.render());
    const canvas = this.renderer.domElement;
    canvas.setAttribute('data-testid', 'twin-canvas');
    canvas.setAttribute('tabindex', '0');
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', 'Your twin in 3D. Drag or use the arrow keys to turn it; '
      + 'scroll, pinch or press + and - to zoom; R resets the view; F shows it full screen.');
    canvas.addEventListener('keydown', (e) => this.onKey(e));
    this.note = document.createElement('div');
    this.note.className = 'viewer-note';
    this.note.setAttribute('role', 'status');
    container.append(canvas, this.note);
    container.dataset.state = 'empty';
    this.loaded = false;
    this.textured = false;
    this.resize();
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(container);
  }

  resize() {
    const w = Math.max(this.container.clientWidth, 64);
    const hgt = Math.max(this.container.clientHeight, 64);
    this.renderer.setSize(w, hgt);
    this.camera.aspect = w / hgt;
    this.camera.updateProjectionMatrix();
    this.render();
  }

  // Loads twin.glb, saying how much has arrived; resolves when the twin is drawn.
  async load(url) {
    this.container.dataset.state = 'loading';
    this.say('Loading your twin…');
    let gltf;
    try {
      gltf = await new GLTFLoader().loadAsync(url, (e) => this.sayProgress(e));
    } catch (err) {
      this.container.dataset.state = 'failed';
      this.say('Your twin could not be shown. Reload the page; if it stays like this, tell the technician.');
      throw err;
    }
    if (this.model) this.scene.remove(this.model);
    this.model = gltf.scene;
    this.textured = false;
    this.model.traverse((o) => {
      if (o.isMesh && o.material && o.material.map) this.textured = true;
    });
    this.scene.add(this.model);
    this.frame();
    this.loaded = true;
    this.container.dataset.state = 'loaded';
    this.say('');
    this.render();
  }

  sayProgress(event) {
    if (!event.lengthComputable || !event.total) return;
    const percent = Math.floor((100 * event.loaded) / event.total);
    const mb = (event.total / 1e6).toFixed(1);
    this.say(`Loading your twin… ${percent} % of ${mb} MB`);
  }

  say(text) {
    this.note.textContent = text;
    this.note.classList.toggle('hidden', !text);
  }

  // Looks at the face from the front, at a distance that shows the whole twin; the orbit turns
  // around the head: the middle of the twin's top quarter metre.
  frame() {
    const box = new THREE.Box3().setFromObject(this.model);
    const size = box.getSize(new THREE.Vector3());
    const head = this.headCentre(box) || box.getCenter(new THREE.Vector3());
    const radius = Math.max(size.x, size.y, size.z) * 0.5 || 1;
    const distance = radius / Math.tan(THREE.MathUtils.degToRad(this.camera.fov / 2)) * 1.3;
    this.camera.near = distance / 100;
    this.camera.far = distance * 100;
    this.camera.position.copy(head).add(new THREE.Vector3(0, 0, distance));
    this.camera.updateProjectionMatrix();
    this.controls.target.copy(head);
    this.controls.minDistance = radius * 0.3;
    this.controls.maxDistance = distance * 5;
    this.controls.update();
    this.controls.saveState();
  }

  // The mean of the vertices within a head's height of the top, or null for an empty model.
  headCentre(box) {
    const band = Math.min(HEAD_HEIGHT_M, 0.6 * (box.max.y - box.min.y));
    const floor = box.max.y - band;
    const sum = new THREE.Vector3();
    const v = new THREE.Vector3();
    let n = 0;
    this.model.updateMatrixWorld(true);
    this.model.traverse((o) => {
      const position = o.isMesh && o.geometry && o.geometry.attributes.position;
      if (!position) return;
      for (let i = 0; i < position.count; i++) {
        v.fromBufferAttribute(position, i).applyMatrix4(o.matrixWorld);
        if (v.y >= floor) { sum.add(v); n++; }
      }
    });
    return n ? sum.divideScalar(n) : null;
  }

  // Back to the view the twin opened with.
  reset() {
    this.controls.reset();
    this.render();
  }

  // Turns the twin by `azimuth` and `polar` radians around the head and zooms by `scale`.
  turn(azimuth, polar, scale = 1) {
    const target = this.controls.target;
    const spherical = new THREE.Spherical().setFromVector3(this.camera.position.clone().sub(target));
    spherical.theta += azimuth;
    spherical.phi = THREE.MathUtils.clamp(spherical.phi + polar, 0.05, Math.PI - 0.05);
    spherical.radius = THREE.MathUtils.clamp(spherical.radius * scale,
      this.controls.minDistance, this.controls.maxDistance);
    this.camera.position.copy(target).add(new THREE.Vector3().setFromSpherical(spherical));
    this.controls.update();
  }

  toggleFullscreen() {
    if (document.fullscreenElement) return document.exitFullscreen();
    return this.container.requestFullscreen();
  }

  onKey(event) {
    const actions = {
      ArrowLeft: () => this.turn(-KEY_TURN, 0),
      ArrowRight: () => this.turn(KEY_TURN, 0),
      ArrowUp: () => this.turn(0, -KEY_TURN),
      ArrowDown: () => this.turn(0, KEY_TURN),
      '+': () => this.turn(0, 0, 1 / KEY_ZOOM),
      '=': () => this.turn(0, 0, 1 / KEY_ZOOM),
      '-': () => this.turn(0, 0, KEY_ZOOM),
      r: () => this.reset(),
      R: () => this.reset(),
      f: () => this.toggleFullscreen(),
      F: () => this.toggleFullscreen(),
    };
    const action = actions[event.key];
    if (!action || !this.loaded) return;
    event.preventDefault();
    action();
  }

  render() {
    this.renderer.render(this.scene, this.camera);
  }

  // Pixels that are not the backdrop, and how many distinct colours they have (a texture gives
  // many; an untextured or missing model few or none).
  stats() {
    this.render();
    const gl = this.renderer.getContext();
    const w = gl.drawingBufferWidth;
    const hgt = gl.drawingBufferHeight;
    const px = new Uint8Array(w * hgt * 4);
    gl.readPixels(0, 0, w, hgt, gl.RGBA, gl.UNSIGNED_BYTE, px);
    // The backdrop as stored (sRGB bytes), not THREE.Color's linear working values.
    const br = (BACKGROUND >> 16) & 255;
    const bgG = (BACKGROUND >> 8) & 255;
    const bb = BACKGROUND & 255;
    let subject = 0;
    const colours = new Set();
    for (let i = 0; i < px.length; i += 4) {
      const d = Math.abs(px[i] - br) + Math.abs(px[i + 1] - bgG) + Math.abs(px[i + 2] - bb);
      if (d > 24) {
        subject++;
        colours.add((px[i] >> 3) * 1024 + (px[i + 1] >> 3) * 32 + (px[i + 2] >> 3));
      }
    }
    return { width: w, height: hgt, total: w * hgt, subject, colours: colours.size,
      textured: this.textured, loaded: this.loaded };
  }

  dispose() {
    this.observer.disconnect();
    this.controls.dispose();
    this.renderer.dispose();
    this.container.replaceChildren();
  }
}
