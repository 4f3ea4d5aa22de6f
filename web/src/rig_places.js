// Where each camera stands, in the words a technician walks the rig with: its column around the
// subject and its ring (height), from the planned positions of the rig file (y is up). The serial is
// the detail. Pure: the tiles and the rig map both use it.

const RING_NAMES = { 1: ['middle'], 2: ['high', 'low'], 3: ['high', 'middle', 'low'] };

// Values closer than `step` to the previous one belong to the same group: sorted group starts.
function groups(values, step) {
  const sorted = [...values].sort((a, b) => a - b);
  const starts = [];
  for (const v of sorted) if (!starts.length || v - starts[starts.length - 1].last > step) starts.push({ first: v, last: v });
    else starts[starts.length - 1].last = v;
  return starts;
}

function groupOf(starts, v) {
  return starts.findIndex((g) => v >= g.first - 1e-9 && v <= g.last + 1e-9);
}

// serial -> { column, ring, ringName, azimuth (degrees, 0 = the rig's front), height (m), label }
export function rigPlaces(cameras) {
  const placed = cameras.filter((c) => Array.isArray(c.position) && c.position.length === 3);
  const places = new Map();
  if (!placed.length) return places;
  const cx = placed.reduce((s, c) => s + c.position[0], 0) / placed.length;
  const cz = placed.reduce((s, c) => s + c.position[2], 0) / placed.length;
  const az = (c) => ((Math.atan2(c.position[0] - cx, c.position[2] - cz) * 180) / Math.PI + 360) % 360;
  const columns = groups(placed.map(az), 8);
  const rings = groups(placed.map((c) => -c.position[1]), 0.08); // top ring first
  const names = RING_NAMES[rings.length] || rings.map((_, i) => `ring ${i + 1}`);
  for (const c of placed) {
    const column = groupOf(columns, az(c)) + 1;
    const ring = groupOf(rings, -c.position[1]) + 1;
    const ringName = names[ring - 1];
    places.set(c.serial, {
      column, ring, ringName, azimuth: Math.round(az(c)), height: c.position[1],
      label: `Column ${column}${rings.length > 1 ? `, ${ringName}` : ''}`,
    });
  }
  return places;
}

// The cameras in the order of the rig: ring by ring from the top, each ring around from the front.
export function byPlace(cameras, places) {
  const key = (c) => {
    const p = places.get(c.serial);
    return p ? p.ring * 1000 + p.column : 1e6;
  };
  return [...cameras].sort((a, b) => key(a) - key(b) || a.serial.localeCompare(b.serial));
}
