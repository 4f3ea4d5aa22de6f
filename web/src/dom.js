// A few DOM helpers: h('div', {class: 'x'}, child…) builds elements without innerHTML, so text
// from the server (names, notes, record bytes) is never parsed as markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function $(id) {
  return document.getElementById(id);
}

export function show(id) {
  for (const p of document.querySelectorAll('.page')) p.classList.add('hidden');
  $(id).classList.remove('hidden');
}
