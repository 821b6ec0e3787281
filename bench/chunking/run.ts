/**
 * Chunking benchmark: pgembed's strategies next to the splitters users reach for today, in the same
 * run, on real Markdown (bench/chunking/corpus.ts), at 400/50 tokens of cl100k_base.
 *
 *   npm run bench:chunking            # ~4 MB corpus
 *   npm run bench:chunking -- --quick # ~1 MB
 *
 * Per splitter: CPU throughput (MB of UTF-8 per CPU second, process.cpuUsage over the whole corpus
 * after an untimed warm-up pass; best of 3 rounds, 2 with --quick), its ratio to one plain gpt-tokenizer encode of the same text (the floor cost of
 * any token-exact chunker), and quality measured the same way for everyone:
 * - over budget: chunks whose embedded text (pgembed: context + content) exceeds 400 cl100k tokens;
 * - code split: fenced code blocks of ≤ 400 tokens that no single chunk contains whole;
 * - heading path: chunks under a heading whose text or metadata names every heading of their path
 *   (the path at the chunk's first character);
 * - coverage: non-whitespace source characters inside some chunk;
 * - offsets exact: chunks whose reported offsets slice the source to exactly their text ("—" when
 *   the splitter reports none); verbatim: chunks found verbatim in the source at all.
 */
import {
  MarkdownTextSplitter,
  RecursiveCharacterTextSplitter,
  TokenTextSplitter,
} from '@langchain/textsplitters';
import { MarkdownNodeParser, SentenceSplitter } from '@llamaindex/core/node-parser';
import { Document, MetadataMode } from '@llamaindex/core/schema';
import { encode } from 'gpt-tokenizer/encoding/cl100k_base';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100kRanks from 'js-tiktoken/ranks/cl100k_base';
import { embeddingText, getChunker, scanBlocks, tiktokenTokenizer } from '../../src/chunking/index.js';
import { type CorpusDocument, loadCorpus } from './corpus.js';

const SIZE = 400;
const OVERLAP = 50;
const quick = process.argv.includes('--quick') || process.env.PGEMBED_BENCH_QUICK === '1';
const cl100k = tiktokenTokenizer('cl100k_base');
const SPECIALS_AS_TEXT = { disallowedSpecial: new Set<string>() };
const SPECIAL_TEXT = 'A row that quotes <|endoftext|> and [SEP] in its text. '.repeat(60);

interface Piece {
  /** What the embedder reads. */
  embed: string;
  /** The chunk's own text (pgembed: the source span). */
  text: string;
  start?: number;
  end?: number;
  /** Metadata the splitter attaches (e.g. LlamaIndex header path), as text. */
  meta?: string;
}

interface Splitter {
  name: string;
  split(text: string): Piece[] | Promise<Piece[]>;
}

const pgembed = (strategy: string): Splitter => {
  const chunker = getChunker(strategy);
  return {
    name: `pgembed ${strategy}`,
    split: (text) =>
      chunker(text, { chunkSize: SIZE, chunkOverlap: OVERLAP, tokenizer: cl100k }).map((c) => ({
        embed: embeddingText(c),
        text: c.content,
        start: c.startChar,
        end: c.endChar,
        meta: c.headingPath?.join('\n'),
      })),
  };
};

const countTokens = (text: string) => cl100k.count(text);
const langchainRecursive = new RecursiveCharacterTextSplitter({
  chunkSize: SIZE,
  chunkOverlap: OVERLAP,
  lengthFunction: countTokens,
});
const langchainMarkdown = new MarkdownTextSplitter({
  chunkSize: SIZE,
  chunkOverlap: OVERLAP,
  lengthFunction: countTokens,
});
const langchainToken = new TokenTextSplitter({
  encodingName: 'cl100k_base',
  chunkSize: SIZE,
  chunkOverlap: OVERLAP,
});
// LangChain fetches the encoding from the network on first use; hand it js-tiktoken's bundled ranks.
(langchainToken as unknown as { tokenizer: Tiktoken }).tokenizer = new Tiktoken(cl100kRanks);
const llamaSentence = new SentenceSplitter({ chunkSize: SIZE, chunkOverlap: OVERLAP });
const llamaMarkdown = new MarkdownNodeParser();

const plain = (texts: string[]): Piece[] => texts.map((t) => ({ embed: t, text: t }));
const SPLITTERS: Splitter[] = [
  ...['markdown', 'recursive', 'semantic', 'sentence', 'token'].map(pgembed),
  {
    name: 'LangChain RecursiveCharacterTextSplitter',
    split: async (t) => plain(await langchainRecursive.splitText(t)),
  },
  { name: 'LangChain MarkdownTextSplitter', split: async (t) => plain(await langchainMarkdown.splitText(t)) },
  { name: 'LangChain TokenTextSplitter', split: async (t) => plain(await langchainToken.splitText(t)) },
  { name: 'LlamaIndex SentenceSplitter', split: (t) => plain(llamaSentence.splitText(t)) },
  {
    name: 'LlamaIndex MarkdownNodeParser',
    split: async (t) => {
      const nodes = await llamaMarkdown.getNodesFromDocuments([new Document({ text: t })]);
      return nodes.map((node) => {
        const text = node.getContent(MetadataMode.NONE);
        const n = node as unknown as { startCharIdx?: number; endCharIdx?: number };
        return {
          embed: node.getContent(MetadataMode.EMBED),
          text,
          start: n.startCharIdx,
          end: n.endCharIdx,
          meta: Object.values(node.metadata).join('\n'),
        };
      });
    },
  },
];

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

/** Heading paths at every offset: the heading stack after each heading line (by pgembed's block scanner). */
function headingIndex(text: string): { at: number[]; paths: string[][] } {
  const at: number[] = [0];
  const paths: string[][] = [[]];
  const stack: { depth: number; text: string }[] = [];
  for (const block of scanBlocks(text)) {
    if (block.kind !== 'heading') continue;
    while (stack.length > 0 && stack.at(-1)!.depth >= block.depth!) stack.pop();
    stack.push({ depth: block.depth!, text: block.text! });
    at.push(block.start);
    paths.push(stack.map((h) => h.text));
  }
  return { at, paths };
}

function pathAt(index: { at: number[]; paths: string[][] }, offset: number): string[] {
  let lo = 0;
  let hi = index.at.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (index.at[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return index.paths[lo]!;
}

interface Quality {
  chunks: number;
  tokens: number;
  overBudget: number;
  codeBlocks: number;
  codeSplit: number;
  underHeading: number;
  withPath: number;
  offsetsReported: number;
  offsetsExact: number;
  verbatim: number;
  nonWhitespace: number;
  covered: number;
  errors: number;
}

function assess(doc: CorpusDocument, pieces: Piece[], q: Quality): void {
  const { text } = doc;
  const index = headingIndex(text);
  q.chunks += pieces.length;
  const covered = new Uint8Array(text.length);
  let cursor = 0;
  for (const piece of pieces) {
    const tokens = cl100k.count(piece.embed);
    q.tokens += tokens;
    if (tokens > SIZE) q.overBudget++;
    let start: number | undefined;
    if (piece.start !== undefined && piece.end !== undefined) {
      q.offsetsReported++;
      if (text.slice(piece.start, piece.end) === piece.text) {
        q.offsetsExact++;
        start = piece.start;
      }
    }
    if (start === undefined) {
      let found = text.indexOf(piece.text, cursor);
      if (found < 0) found = text.indexOf(piece.text);
      if (found >= 0) start = found;
    }
    if (start === undefined) continue;
    q.verbatim++;
    cursor = start + 1;
    const end = start + piece.text.length;
    covered.fill(1, start, end);
    const first = start + (piece.text.length - piece.text.trimStart().length);
    const path = pathAt(index, first);
    if (path.length > 0) {
      q.underHeading++;
      const haystack = `${piece.embed}\n${piece.meta ?? ''}`;
      if (path.every((h) => haystack.includes(h))) q.withPath++;
    }
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 10 || c === 9 || c === 13) continue;
    q.nonWhitespace++;
    if (covered[i]) q.covered++;
  }
  for (const block of scanBlocks(text)) {
    if (block.kind !== 'code' || block.opener === undefined) continue;
    const code = text.slice(block.start, block.end).trimEnd();
    if (cl100k.count(code) > SIZE) continue;
    q.codeBlocks++;
    if (!pieces.some((p) => p.text.includes(code))) q.codeSplit++;
  }
}

async function main() {
  const corpus = loadCorpus(quick ? 1 : 4);
  const bytes = corpus.reduce((sum, doc) => sum + utf8(doc.text), 0);
  const megabytes = bytes / 1e6;
  console.error(
    `corpus: ${corpus.length} documents, ${megabytes.toFixed(2)} MB (PostgreSQL 15 manual → Markdown, npm READMEs)`,
  );

  // gpt-tokenizer keeps an LRU cache of merged pre-tokens, as a long-lived worker would have warm:
  // every measurement runs with it warm (one full pass first), so order does not favour anyone.
  for (const doc of corpus) encode(doc.text, SPECIALS_AS_TEXT);
  const floorPass = () => {
    const since = process.cpuUsage();
    for (const doc of corpus) encode(doc.text, SPECIALS_AS_TEXT);
    return cpuSeconds(since);
  };
  // The machine is shared: each splitter is measured in rounds, each round timing the floor right
  // before it, and the best round counts (the least disturbed one) for both.
  const rounds = quick ? 2 : 3;
  const floorTimes: number[] = [];

  const rows: Record<string, unknown>[] = [];
  const floorRow: Record<string, unknown> = { splitter: 'gpt-tokenizer encode (floor)', ofFloor: 1 };
  rows.push(floorRow);
  for (const splitter of SPLITTERS) {
    // A full pass first, untimed: every splitter is measured with its code optimized by the JIT.
    for (const doc of corpus) {
      try {
        await splitter.split(doc.text);
      } catch {}
    }
    let outputs: (Piece[] | undefined)[] = [];
    let errors = 0;
    let best = Number.POSITIVE_INFINITY;
    let bestRatio = 0;
    for (let round = 0; round < rounds; round++) {
      const floorSeconds = floorPass();
      floorTimes.push(floorSeconds);
      outputs = [];
      errors = 0;
      const since = process.cpuUsage();
      for (const doc of corpus) {
        try {
          outputs.push(await splitter.split(doc.text));
        } catch {
          errors++;
          outputs.push(undefined);
        }
      }
      const seconds = cpuSeconds(since);
      if (seconds < best) best = seconds;
      bestRatio = Math.max(bestRatio, floorSeconds / seconds);
      // The slowest baselines are measured once: their rounds would not change the conclusion.
      if (seconds > 20) break;
    }
    const seconds = best;
    // Text from a database is data: a special-token string must be chunked as the characters it is.
    let specialTokens = 'text';
    try {
      const pieces = await splitter.split(SPECIAL_TEXT);
      if (!pieces.some((p) => p.text.includes('<|endoftext|>'))) specialTokens = 'dropped';
    } catch {
      specialTokens = 'throws';
    }
    const q: Quality = {
      chunks: 0,
      tokens: 0,
      overBudget: 0,
      codeBlocks: 0,
      codeSplit: 0,
      underHeading: 0,
      withPath: 0,
      offsetsReported: 0,
      offsetsExact: 0,
      verbatim: 0,
      nonWhitespace: 0,
      covered: 0,
      errors,
    };
    corpus.forEach((doc, k) => {
      const pieces = outputs[k];
      if (pieces) assess(doc, pieces, q);
    });
    const mbps = megabytes / seconds;
    const row = {
      splitter: splitter.name,
      mbPerCpuSecond: round(mbps, 2),
      ofFloor: 0,
      bestRoundRatio: round(bestRatio, 3),
      chunks: q.chunks,
      avgTokens: round(q.tokens / Math.max(1, q.chunks), 1),
      overBudgetPct: pct(q.overBudget, q.chunks),
      codeSplitPct: pct(q.codeSplit, q.codeBlocks),
      headingPathPct: pct(q.withPath, q.underHeading),
      coveragePct: pct(q.covered, q.nonWhitespace),
      offsetsExactPct: q.offsetsReported ? pct(q.offsetsExact, q.chunks) : null,
      verbatimPct: pct(q.verbatim, q.chunks),
      failedDocuments: errors,
      specialTokens,
    };
    rows.push(row);
    console.error(JSON.stringify(row));
  }

  // Throughput of each against the floor's best round: both are their least disturbed measurement.
  const floorMbps = megabytes / Math.min(...floorTimes);
  floorRow.mbPerCpuSecond = round(floorMbps, 2);
  for (const r of rows.slice(1)) r.ofFloor = round((r.mbPerCpuSecond as number) / floorMbps, 3);
  console.log(
    `\nchunking at ${SIZE}/${OVERLAP} cl100k tokens, ${corpus.length} documents, ${megabytes.toFixed(2)} MB, node ${process.version}`,
  );
  console.log(
    '| splitter | MB/s CPU | × floor | chunks | avg tokens | over budget | code split | heading path | coverage | offsets exact | verbatim | special tokens |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const cell = (v: unknown, suffix = '') => (v === undefined ? '' : v === null ? '—' : `${v}${suffix}`);
    console.log(
      `| ${r.splitter} | ${cell(r.mbPerCpuSecond)} | ${cell(r.ofFloor)} | ${cell(r.chunks)} | ${cell(r.avgTokens)} | ${cell(r.overBudgetPct, ' %')} | ${cell(r.codeSplitPct, ' %')} | ${cell(r.headingPathPct, ' %')} | ${cell(r.coveragePct, ' %')} | ${cell(r.offsetsExactPct, ' %')} | ${cell(r.verbatimPct, ' %')} | ${cell(r.specialTokens)} |`,
    );
  }
  const get = (name: string) => rows.find((r) => r.splitter === name)!;
  const md = get('pgembed markdown');
  const rec = get('pgembed recursive');
  const goals = {
    markdownOfFloor: md.ofFloor,
    recursiveOfFloor: rec.ofFloor,
    throughputGoalMet: (md.ofFloor as number) >= 0.3 && (rec.ofFloor as number) >= 0.3,
    overBudgetZero: rows
      .filter((r) => String(r.splitter).startsWith('pgembed'))
      .every((r) => r.overBudgetPct === 0),
    markdownCodeSplitZero: md.codeSplitPct === 0,
    markdownHeadingPath99: (md.headingPathPct as number) >= 99,
  };
  console.log(`\ngoals: ${JSON.stringify(goals)}`);
  console.log(
    JSON.stringify({
      bench: 'chunking',
      megabytes: round(megabytes, 2),
      documents: corpus.length,
      rows,
      goals,
    }),
  );
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function pct(part: number, whole: number): number {
  return whole === 0 ? 0 : round((100 * part) / whole, 2);
}

await main();
