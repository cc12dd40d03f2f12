/** The bytes tests/fixtures/artifact-stage.mjs writes for `make N` (the same formula, made here to compare). */
export function madeBytes(size: number): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >> 20)) & 255;
  return data;
}
