/**
 * Builtin `audio` stage: a stand-in "narration" for `script.md`, written as `narration.wav`.
 * It is a short melody (at most 3.6 s) whose notes come from hashing the script's words onto a
 * pentatonic scale, so every script has its own tune and nothing is random. The WAV is
 * 16-bit mono PCM at 16 kHz with the 44-byte RIFF header written by hand.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StageError, type StageAdapter } from '../types.js';
import { hash32, parseSections, readInputText, revisionNote } from './util.js';
import { narrationOf } from './storyboard.js';

/** Samples per second of the narration. */
export const SAMPLE_RATE = 16_000;
const NOTE_SECONDS = 0.2;
const MAX_NOTES = 18; // 18 × 0.2 s = 3.6 s, about 115 KB
const PENTATONIC = [0, 2, 4, 7, 9]; // semitones above the root; any order of them sounds fine
const ROOT_HZ = 220;

/** The 44-byte header of a canonical PCM WAV file (16-bit, mono) holding `dataBytes` of samples. */
export function wavHeader(dataBytes: number, sampleRate = SAMPLE_RATE): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + dataBytes, 4); // size of everything after this field
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size for PCM
  header.writeUInt16LE(1, 20); // format 1 = integer PCM
  header.writeUInt16LE(1, 22); // channels
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28); // byte rate = rate × block align
  header.writeUInt16LE(2, 32); // block align = channels × 16 bits / 8
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes, 40);
  return header;
}

/** Frequencies (Hz) of the melody for some words: each word hashed onto two octaves of the scale. */
export function melody(words: string[], seed: number, count: number): number[] {
  const source = words.length > 0 ? words : ['silence'];
  return Array.from({ length: count }, (_, i) => {
    const step = hash32(source[i % source.length]!.toLowerCase(), seed) % (PENTATONIC.length * 2);
    const semitones = PENTATONIC[step % PENTATONIC.length]! + 12 * Math.floor(step / PENTATONIC.length);
    return ROOT_HZ * 2 ** (semitones / 12);
  });
}

/** Renders notes to 16-bit samples; short fades at both ends of each note avoid clicks. */
export function synthesize(frequencies: number[], sampleRate = SAMPLE_RATE): Buffer {
  const perNote = Math.round(sampleRate * NOTE_SECONDS);
  const fade = Math.round(sampleRate * 0.015);
  const data = Buffer.alloc(frequencies.length * perNote * 2);
  frequencies.forEach((hz, n) => {
    for (let i = 0; i < perNote; i++) {
      const t = i / sampleRate;
      const envelope = Math.min(1, i / fade, (perNote - 1 - i) / fade);
      // A touch of the second harmonic makes it sound less like a test tone.
      const value = 0.8 * Math.sin(2 * Math.PI * hz * t) + 0.2 * Math.sin(4 * Math.PI * hz * t);
      data.writeInt16LE(Math.round(value * envelope * 0.5 * 32767), (n * perNote + i) * 2);
    }
  });
  return data;
}

/** Writes `narration.wav` from the script of an earlier stage. */
export const audio: StageAdapter = async (ctx) => {
  const { sections } = parseSections(await readInputText(ctx, 'script.md'));
  if (sections.length === 0) throw new StageError('script.md has no scenes to narrate', 'invalid');
  const revision = revisionNote(ctx);

  const words = sections.flatMap((s) => narrationOf(s.body).match(/[\p{L}\p{N}]+/gu) ?? []);
  const count = Math.min(MAX_NOTES, Math.max(8, sections.length * 3));
  // A redo gets a different tune: the reason is part of the hash seed.
  const notes = melody(words, hash32(revision ?? ''), count);
  const samples = synthesize(notes);
  await writeFile(join(ctx.outputDir, 'narration.wav'), Buffer.concat([wavHeader(samples.length), samples]));

  const seconds = samples.length / 2 / SAMPLE_RATE;
  return {
    summary: `Narration: ${seconds.toFixed(1)} s, ${notes.length} notes${revision ? ' (revised)' : ''}`,
    outputs: { seconds, notes: notes.length, sampleRate: SAMPLE_RATE },
  };
};
