/**
 * A deterministic embedder that sees topics: each topic's words share one dimension, so sentences of
 * one topic point the same way and a change of topic is a sharp drop in similarity, as a real model
 * shows it. Words of no topic go to a last, shared dimension with a small weight.
 */
export const TOPICS: Record<string, readonly string[]> = {
  databases: ['postgres', 'index', 'query', 'table', 'vacuum', 'rows', 'planner', 'wal'],
  baking: ['bread', 'flour', 'oven', 'dough', 'yeast', 'crust', 'knead', 'loaf'],
  sailing: ['boat', 'sail', 'wind', 'harbour', 'anchor', 'tide', 'keel', 'mast'],
};
const NAMES = Object.keys(TOPICS);
export const TOPIC_DIMENSIONS = NAMES.length + 1;

export function topicEmbedding(text: string): number[] {
  const v: number[] = Array.from({ length: TOPIC_DIMENSIONS }, () => 0);
  for (const word of text.toLowerCase().split(/[^a-z]+/)) {
    if (!word) continue;
    const topic = NAMES.findIndex((name) => TOPICS[name]!.includes(word));
    v[topic >= 0 ? topic : NAMES.length]! += topic >= 0 ? 1 : 0.05;
  }
  if (!v.some((x) => x !== 0)) v[NAMES.length] = 1;
  return v;
}

/** Sentences about one topic: each names two of its words among ordinary ones. */
export function sentencesAbout(topic: string, count: number): string[] {
  const words = TOPICS[topic]!;
  return Array.from(
    { length: count },
    (_, i) =>
      `The ${words[i % words.length]} matters here because the ${words[(i + 3) % words.length]} comes next.`,
  );
}

/** The topics whose words a text contains. */
export function topicsIn(text: string): string[] {
  const words = new Set(text.toLowerCase().split(/[^a-z]+/));
  return NAMES.filter((name) => TOPICS[name]!.some((word) => words.has(word)));
}
