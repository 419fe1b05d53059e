/**
 * The bounds every payload and every file the engine reads is held to. Kept apart from schemas.ts
 * so the engine and the CLI can use them without loading zod and building every schema: the CLI's
 * `dus` path never validates a payload, and building the schemas cost a tenth of its start-up.
 */

/** Longest path accepted (Linux PATH_MAX is 4096 bytes; Windows long paths are shorter in characters). */
export const MAX_PATH_LENGTH = 4096;
/** Most slices a plan may hold; Goliath-style plans have tens. */
export const MAX_SLICES = 10_000;
/** Most scale rules on one slice. */
export const MAX_SCALE_RULES = 64;
/** Most models an interleave recipe may alternate between. */
export const MAX_INTERLEAVE_MODELS = 64;
/** Largest mergekit YAML accepted, in UTF-8 bytes. */
export const MAX_YAML_BYTES = 1_000_000;
/** Most layers any count in a recipe may name; real models have a few hundred. */
export const MAX_LAYER_COUNT = 1_000_000;
/** Longest `chat_template` accepted, in characters; real templates with tool calling have tens of thousands. */
export const MAX_CHAT_TEMPLATE_LENGTH = 262_144;
/** Most points of one gradient (`scale: [1.0, 0.5]`). */
export const MAX_GRADIENT_POINTS = 1024;
