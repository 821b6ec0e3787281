/**
 * Hierarchical chunking: parent sections cut by one strategy (e.g. `markdown` at 2,000 tokens), then
 * each section cut into child chunks by another (e.g. `semantic` at 400/50). Children are what gets
 * embedded and searched; each knows its section (`parentIndex`), so a hit can be widened to the
 * whole section. A child's context carries its section's title and heading path.
 */
import { PgembedError } from '../errors.js';
import type { Chunk, Chunker, ChunkOptions } from './types.js';

export interface HierarchyLevel {
  strategy: string;
  chunkSize: number;
  chunkOverlap: number;
}

export interface Hierarchy {
  /** Parent sections, in order; `index` is what children's `parentIndex` refers to. */
  sections: Chunk[];
  /** Child chunks, in order, indexed across the whole document. */
  chunks: Chunk[];
}

/**
 * Cuts `source` into sections with `levels[0]`, then each section into chunks with `levels[1]`.
 * `getChunker` resolves strategy names (passed in to keep this module free of the registry).
 * Context is on by default for hierarchical chunks.
 */
export function chunkHierarchy(
  source: string,
  levels: readonly HierarchyLevel[],
  options: Omit<ChunkOptions, 'chunkSize' | 'chunkOverlap'>,
  getChunker: (name: string) => Chunker,
): Hierarchy {
  if (levels.length !== 2) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `hierarchical chunking takes exactly 2 levels (sections, then chunks), got ${levels.length}`,
    );
  }
  const [outer, inner] = levels as [HierarchyLevel, HierarchyLevel];
  if (inner.chunkSize > outer.chunkSize) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `the chunks' size (${inner.chunkSize}) must not exceed the sections' size (${outer.chunkSize})`,
    );
  }
  const context = options.context ?? true;
  const sections = getChunker(outer.strategy)(source, {
    ...options,
    context,
    chunkSize: outer.chunkSize,
    chunkOverlap: outer.chunkOverlap,
  });
  const chunks: Chunk[] = [];
  for (const section of sections) {
    // The section's own context (title, heading path) leads every child's context.
    const children = getChunker(inner.strategy)(section.content, {
      ...options,
      context,
      title: context ? (section.context ?? options.title) : undefined,
      chunkSize: inner.chunkSize,
      chunkOverlap: inner.chunkOverlap,
    });
    for (const child of children) {
      const out: Chunk = {
        content: child.content,
        index: chunks.length,
        startChar: section.startChar + child.startChar,
        endChar: section.startChar + child.endChar,
        tokenCount: child.tokenCount,
        parentIndex: section.index,
      };
      const path = section.headingPath ?? child.headingPath;
      if (path) out.headingPath = path;
      if (child.context) out.context = child.context;
      chunks.push(out);
    }
  }
  return { sections, chunks };
}
