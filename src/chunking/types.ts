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
  /** Index of the parent chunk (hierarchical chunking): the section this chunk was cut from. */
  parentIndex?: number;
  /**
   * Text the embedder reads before `content` (never part of the source span): the document's title,
   * the heading path (`# Parent > ## Child`), and for a piece of a split code block or table the
   * opening fence or header rows it needs to render. The embedded text is
   * `embeddingText(chunk)` = context, a blank line, content; it fits `chunkSize` tokens as a whole.
   */
  context?: string;
}

export interface Tokenizer {
  /** Name for messages and docs, e.g. 'cl100k_base' or 'all-MiniLM-L6-v2 WordPiece'. */
  readonly name: string;
  /**
   * The most tokens one input may have for the model to read all of it (special tokens it adds
   * excluded), when known: chunk budgets above it are refused.
   */
  readonly maxInputTokens?: number;
  /**
   * The most UTF-8 bytes one token covers, when known (128 for cl100k_base and o200k_base: a run of
   * spaces). A text of n UTF-16 units has at least n bytes, so at least n / longestToken tokens: the
   * packer stops growing a chunk past chunkSize × longestToken units without counting it.
   */
  readonly longestToken?: number;
  /** Number of tokens of `text` as the model counts them (without special tokens). */
  count(text: string): number;
  /**
   * Token boundaries of `text` as end offsets in UTF-16 code units (strictly increasing, last one is
   * text.length), never inside a surrogate pair. Token i spans [ends[i-1] ?? 0, ends[i]).
   */
  boundaries(text: string): number[];
  /**
   * Finer-grained view used by the chunkers when present: code-point-aligned segments with the number
   * of model tokens each one costs, and which segment ends are also grapheme-cluster boundaries.
   * Tokenizers written outside pgembed may omit it; chunkers then treat every boundary as one token
   * and rely on `count` to keep each chunk within budget.
   */
  segments?(text: string): TokenSegments;
}

/**
 * A tokenization of one text as cut points. A segment is usually one model token; several tokens are
 * merged into one segment when a token ends inside a code point (byte-level BPE splits multi-byte
 * UTF-8), and a segment may carry 0 tokens when its text is ignored by the model (whitespace at the
 * end of a text, for WordPiece).
 */
export interface TokenSegments {
  /** End offsets in UTF-16 code units: strictly increasing, never inside a code point, last is text.length. */
  ends: number[];
  /** Model tokens in each segment; their sum is the token count of the text. */
  tokens: number[];
  /** Whether `ends[i]` is also a grapheme-cluster boundary (the preferred place to cut). */
  clusterEnd: boolean[];
}

export interface ChunkOptions {
  /** Stops the chunker once a budget is spent (`chunkingDeadline`); none by default. */
  deadline?: import('./deadline.js').ChunkDeadline;
  /** Budget per chunk, in tokens. */
  chunkSize: number;
  /** Tokens repeated from the end of the previous chunk. */
  chunkOverlap: number;
  tokenizer: Tokenizer;
  /**
   * Put the title and heading path ahead of each chunk's content for the embedder (`Chunk.context`).
   * Strategies default it: on for `markdown`, off for the others.
   */
  context?: boolean;
  /** The document's title for the context (e.g. from a title column). Markdown falls back to its front matter `title:` or first heading. */
  title?: string;
  /** Between the headings of the path in the context; default `' > '`. */
  headingSeparator?: string;
  /** BCP 47 locale for sentence segmentation (`sentence`, `semantic`, `recursive`); default the runtime's. */
  locale?: string;
}

export type Chunker = (source: string, options: ChunkOptions) => Chunk[];
