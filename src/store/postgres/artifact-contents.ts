/**
 * Artifact contents kept in PostgreSQL (PostgreSQL only; see src/artifacts/postgres.ts): one
 * `artifact_contents` row per stored file and its bytes as `artifact_chunks` rows of CHUNK_BYTES
 * each (the last one shorter), so a download reads one chunk at a time and a byte range reads
 * only the chunks it covers. A file's rows are written in one transaction: a crash leaves all of
 * them or none.
 */
import type pg from 'pg';

/** Bytes per chunk row: big enough that a 100 MiB file is 100 round trips, small enough to hold one in memory per download. */
export const CHUNK_BYTES = 1024 * 1024;

/** The statements on artifact contents, over a pool (each call takes a connection only for its own statement or transaction). */
export function artifactContentStatements(pool: pg.Pool) {
  return {
    /**
     * Stores a file's contents from `chunks` (each CHUNK_BYTES long but the last) and returns
     * the new row's id. The transaction holds one connection while the file is read from disk.
     * With `artifactId`, that artifact row is pointed at the contents in the same transaction
     * (`signoff migrate` moving an existing file into the database).
     */
    async put(job: number, size: number, chunks: AsyncIterable<Buffer>, at: number, artifactId?: number): Promise<number> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const head = await client.query<{ id: number }>('INSERT INTO artifact_contents (job_id, size, created_at) VALUES ($1, $2, $3) RETURNING id', [job, size, at]);
        const id = head.rows[0]!.id;
        let n = 0;
        for await (const chunk of chunks) await client.query('INSERT INTO artifact_chunks (content_id, n, data) VALUES ($1, $2, $3)', [id, n++, chunk]);
        if (artifactId !== undefined) await client.query('UPDATE artifacts SET path = $2 WHERE id = $1', [artifactId, `postgres:${id}`]);
        await client.query('COMMIT');
        return id;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    /** The stored size of contents `id`, or undefined when there is no such row. */
    async size(id: number): Promise<number | undefined> {
      const r = await pool.query<{ size: number }>('SELECT size FROM artifact_contents WHERE id = $1', [id]);
      return r.rows[0]?.size;
    },
    /** Bytes `from` (0-based) to `from + length` of chunk `n` of contents `id`; undefined when the chunk is missing. */
    async chunk(id: number, n: number, from = 0, length = CHUNK_BYTES): Promise<Buffer | undefined> {
      // substring on bytea counts from 1; only the bytes asked for cross the network. As base64:
      // reading 50 MiB of 1 MiB rows took 0.5 s so against 1.3–2.3 s as bytea's hex text (pg's
      // per-query `binary` option is no way out: it decodes bytea results as UTF-8 strings).
      const r = await pool.query<{ data: string }>(`SELECT encode(substring(data FROM $3 FOR $4), 'base64') AS data FROM artifact_chunks WHERE content_id = $1 AND n = $2`, [id, n, from + 1, length]);
      const data = r.rows[0]?.data;
      return data === undefined ? undefined : Buffer.from(data, 'base64');
    },
    /**
     * Deletes contents stored before `before` that no artifact row names: a run whose success
     * report lost its compare-and-set (a run presumed dead and run again) or whose process died
     * between storing and reporting. How many went.
     */
    async sweepOrphans(before: number): Promise<number> {
      const r = await pool.query(`DELETE FROM artifact_contents c WHERE c.created_at < $1
        AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.job_id = c.job_id AND a.path = 'postgres:' || c.id)`, [before]);
      return r.rowCount ?? 0;
    },
    /** How many chunk rows contents `id` has (tests and checks). */
    async chunkCount(id: number): Promise<number> {
      const r = await pool.query<{ count: string }>('SELECT count(*) AS count FROM artifact_chunks WHERE content_id = $1', [id]);
      return Number(r.rows[0]!.count);
    },
    /** Artifact rows whose contents are still a file path (not `postgres:<id>`), oldest first (`signoff migrate`). */
    async onDisk(): Promise<{ id: number; job_id: number; path: string; size: number }[]> {
      return (await pool.query<{ id: number; job_id: number; path: string; size: number }>("SELECT id, job_id, path, size FROM artifacts WHERE path NOT LIKE 'postgres:%' ORDER BY id")).rows;
    },
  };
}

export type ArtifactContentStatements = ReturnType<typeof artifactContentStatements>;
