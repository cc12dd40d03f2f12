/**
 * The JSON document a command stage reads on stdin and an http stage receives as its body.
 */
import type { StageContext } from './types.js';

export function stageRequest(ctx: StageContext, options: { paths: boolean }) {
  return {
    job: ctx.jobId,
    pipeline: ctx.pipeline,
    stage: ctx.stageId,
    attempt: ctx.attempt,
    brief: ctx.brief,
    params: ctx.params,
    submitter: ctx.submitter,
    // A remote service cannot read signoff's disk, so it gets no paths.
    inputs: ctx.inputs.map(({ stage, name, path, size }) => (options.paths ? { stage, name, path, size } : { stage, name, size })),
    redo_reason: ctx.redoReason ?? null,
    approval_notes: ctx.approvalNotes ?? [],
  };
}
