/**
 * The chunker seam: strategies turn one document into chunks sized in the embedding model's own tokens.
 * `source.slice(startChar, endChar) === content` always holds (offsets in UTF-16 code units, as JS strings).
 */
export interface Chunk {
  /** The chunk's text: exactly the source span [startChar, endChar). */
  content: string;
  /** 0-based position in the document. */
  index: number;
  startChar: number;
  endChar: number;
  /** Length of `content` in the model's tokenizer. */
  tokenCount: number;
  /** Headings enclosing the chunk (markdown strategy), outermost first. */
  headingPath?: string[];
  parentIndex?: number;
}

export interface Tokenizer {
  /** Name for messages and docs, e.g. 'cl100k_base' or 'all-MiniLM-L6-v2 WordPiece'. */
  readonly name: string;
  /** Number of tokens of `text` as the model counts them (without special tokens). */
  count(text: string): number;
  /**
   * Token boundaries of `text` as end offsets in UTF-16 code units (strictly increasing, last one is
   * text.length), never inside a surrogate pair. Token i spans [ends[i-1] ?? 0, ends[i]).
   */
  boundaries(text: string): number[];
}

export interface ChunkOptions {
  /** Budget per chunk, in tokens. */
  chunkSize: number;
  /** Tokens repeated from the end of the previous chunk. */
  chunkOverlap: number;
  tokenizer: Tokenizer;
}

export type Chunker = (source: string, options: ChunkOptions) => Chunk[];
