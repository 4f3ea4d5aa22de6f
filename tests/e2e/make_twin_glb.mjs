// Test fixture: converts the virtual studio's head scan (sim/data/head, CC BY 3.0) into a textured
// binary glTF 2.0 twin (twin.glb: positions, smooth normals, UVs, the colour map embedded as JPEG),
// plus twin.obj/.mtl/.jpg, in the layout `twinrig reconstruct --preview` writes. The browser test
// uses it when the build has no reconstruction yet (or when told to skip it).
//   node make_twin_glb.mjs HEAD_DIR OUT_DIR
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function makeTwin(headDir, outDir) {
  const text = readFileSync(join(headDir, 'head.obj'), 'latin1');
  const positions = [];
  const uvs = [];
  const faces = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[\r\0]/g, '').trim();
    const parts = line.split(/\s+/);
    if (parts[0] === 'v') positions.push(parts.slice(1, 4).map(Number));
    else if (parts[0] === 'vt') uvs.push(parts.slice(1, 3).map(Number));
    else if (parts[0] === 'f') {
      faces.push(parts.slice(1).map((c) => {
        const [v, t] = c.split('/');
        return [Number(v) - 1, t ? Number(t) - 1 : -1];
      }));
    }
  }
  if (positions.length === 0 || faces.length === 0) throw new Error('head.obj: no mesh');
  // Smooth normals per position: area-weighted face normals summed at each corner.
  const normals = positions.map(() => [0, 0, 0]);
  const tris = [];
  for (const f of faces) for (let i = 1; i + 1 < f.length; i++) tris.push([f[0], f[i], f[i + 1]]);
  for (const [a, b, c] of tris) {
    const pa = positions[a[0]];
    const pb = positions[b[0]];
    const pc = positions[c[0]];
    const u = [pb[0] - pa[0], pb[1] - pa[1], pb[2] - pa[2]];
    const v = [pc[0] - pa[0], pc[1] - pa[1], pc[2] - pa[2]];
    const n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
    for (const corner of [a, b, c]) for (let k = 0; k < 3; k++) normals[corner[0]][k] += n[k];
  }
  // One glTF vertex per distinct (position, uv) pair.
  const index = new Map();
  const outPos = [];
  const outNrm = [];
  const outUv = [];
  const indices = [];
  for (const tri of tris) {
    for (const [p, t] of tri) {
      const key = `${p}/${t}`;
      let id = index.get(key);
      if (id === undefined) {
        id = outPos.length / 3;
        index.set(key, id);
        outPos.push(...positions[p]);
        const n = normals[p];
        const len = Math.hypot(n[0], n[1], n[2]) || 1;
        outNrm.push(n[0] / len, n[1] / len, n[2] / len);
        const uv = t >= 0 ? uvs[t] : [0, 0];
        outUv.push(uv[0], 1 - uv[1]);  // OBJ's origin is bottom-left, glTF's top-left
      }
      indices.push(id);
    }
  }
  const jpeg = readFileSync(join(headDir, 'Map-COL.jpg'));
  const pad4 = (n) => (n + 3) & ~3;
  const chunks = [
    Buffer.from(new Float32Array(outPos).buffer),
    Buffer.from(new Float32Array(outNrm).buffer),
    Buffer.from(new Float32Array(outUv).buffer),
    Buffer.from(new Uint32Array(indices).buffer),
    jpeg,
  ];
  const views = [];
  let offset = 0;
  for (const c of chunks) {
    views.push({ buffer: 0, byteOffset: offset, byteLength: c.length });
    offset = pad4(offset + c.length);
  }
  const bin = Buffer.alloc(offset);
  chunks.forEach((c, i) => c.copy(bin, views[i].byteOffset));
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < outPos.length; i += 3) {
    for (let k = 0; k < 3; k++) {
      min[k] = Math.min(min[k], outPos[i + k]);
      max[k] = Math.max(max[k], outPos[i + k]);
    }
  }
  const count = outPos.length / 3;
  const gltf = {
    asset: { version: '2.0', generator: 'twinrig test fixture (head scan CC BY 3.0, Lee Perry-Smith)' },
    scene: 0,
    scenes: [{ nodes: [0] }],
    nodes: [{ mesh: 0, name: 'twin' }],
    meshes: [{ primitives: [{ attributes: { POSITION: 0, NORMAL: 1, TEXCOORD_0: 2 }, indices: 3, material: 0 }] }],
    materials: [{ pbrMetallicRoughness: { baseColorTexture: { index: 0 }, metallicFactor: 0, roughnessFactor: 0.9 } }],
    textures: [{ source: 0, sampler: 0 }],
    samplers: [{ magFilter: 9729, minFilter: 9987 }],
    images: [{ bufferView: 4, mimeType: 'image/jpeg' }],
    buffers: [{ byteLength: bin.length }],
    bufferViews: views.map((v, i) => (i < 3 ? { ...v, target: 34962 } : i === 3 ? { ...v, target: 34963 } : v)),
    accessors: [
      { bufferView: 0, componentType: 5126, count, type: 'VEC3', min, max },
      { bufferView: 1, componentType: 5126, count, type: 'VEC3' },
      { bufferView: 2, componentType: 5126, count, type: 'VEC2' },
      { bufferView: 3, componentType: 5125, count: indices.length, type: 'SCALAR' },
    ],
  };
  let json = Buffer.from(JSON.stringify(gltf), 'utf8');
  json = Buffer.concat([json, Buffer.alloc(pad4(json.length) - json.length, 0x20)]);
  const header = Buffer.alloc(12);
  header.writeUInt32LE(0x46546c67, 0);  // "glTF"
  header.writeUInt32LE(2, 4);
  header.writeUInt32LE(12 + 8 + json.length + 8 + bin.length, 8);
  const chunkHeader = (len, type) => {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(len, 0);
    b.writeUInt32LE(type, 4);
    return b;
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'twin.glb'), Buffer.concat([
    header, chunkHeader(json.length, 0x4e4f534a), json, chunkHeader(bin.length, 0x004e4942), bin]));
  copyFileSync(join(headDir, 'head.obj'), join(outDir, 'twin.obj'));
  writeFileSync(join(outDir, 'twin.mtl'), 'newmtl defaultMat\nKd 1 1 1\nmap_Kd twin.jpg\n');
  copyFileSync(join(headDir, 'Map-COL.jpg'), join(outDir, 'twin.jpg'));
  return { vertices: count, triangles: indices.length / 3 };
}

if (process.argv[1] && process.argv[1].endsWith('make_twin_glb.mjs')) {
  const [headDir, outDir] = process.argv.slice(2);
  if (!headDir || !outDir) {
    console.error('usage: node make_twin_glb.mjs HEAD_DIR OUT_DIR');
    process.exit(2);
  }
  console.log(makeTwin(headDir, outDir));
}
