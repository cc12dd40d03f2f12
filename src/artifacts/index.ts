/** Where artifact contents live and how every process reads them: see ./contents.ts. */
export type { ArtifactContents, ArtifactReader, ByteRange, StoredArtifact } from './contents.js';
export { LocalContents, localArtifacts } from './local.js';
export { PgContents, contentsId } from './postgres.js';
export { openArtifactContents, DEFAULT_MAX_ARTIFACT_BYTES, type ContentsSettings } from './open.js';
export { collectOutputs } from './outputs.js';
export { stageInputs } from './inputs.js';
