// The 3D view of the twin: three.js, GLTFLoader for twin.glb (embedded texture), OrbitControls to
// orbit and zoom. The camera frames the model's bounding box. `stats()` reads the drawn pixels back
// so tests (and a technician's sanity check) can tell a rendered subject from an empty backdrop.
import * as THREE from 'three';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';

const BACKGROUND = 0x20232a;

export class TwinViewer {
  constructor(container) {
    this.container = container;
    this.renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(1);
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
    container.append(this.renderer.domElement);
    this.renderer.domElement.setAttribute('data-testid', 'twin-canvas');
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

  async load(url) {
    const gltf = await new GLTFLoader().loadAsync(url);
    if (this.model) this.scene.remove(this.model);
    this.model = gltf.scene;
    this.model.traverse((o) => {
      if (o.isMesh && o.material && o.material.map) this.textured = true;
    });
    this.scene.add(this.model);
    const box = new THREE.Box3().setFromObject(this.model);
    const size = box.getSize(new THREE.Vector3());
    const center = box.getCenter(new THREE.Vector3());
    const radius = Math.max(size.x, size.y, size.z) * 0.5 || 1;
    const distance = radius / Math.tan(THREE.MathUtils.degToRad(this.camera.fov / 2)) * 1.3;
    this.camera.near = distance / 100;
    this.camera.far = distance * 100;
    this.camera.position.copy(center).add(new THREE.Vector3(0, 0, distance));
    this.camera.updateProjectionMatrix();
    this.controls.target.copy(center);
    this.controls.minDistance = radius * 0.3;
    this.controls.maxDistance = distance * 5;
    this.controls.update();
    this.loaded = true;
    this.render();
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
