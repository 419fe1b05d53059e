/**
 * mergekit's `chat_template` option (merge.py `_set_chat_template`): `auto` picks the template most
 * of the input models share, a built-in name picks one of mergekit's named templates, and any other
 * text of at least 20 characters holding a `{` is a Jinja template written as it is.
 *
 * The named templates below are DUS Studio's own Jinja text. Each renders every conversation to the
 * same prompt as the mergekit template of that name (quirks included: mergekit's `llama3` ends each
 * turn with a newline, its `exaone` indents turns with spaces, its `alpaca` puts no blank line
 * before the generation prompt), so a merged model is prompted exactly as mergekit's would be. Every
 * tag strips the whitespace around it, so they render the same with or without the
 * trim_blocks / lstrip_blocks settings transformers uses.
 */

/** The value that asks for the input models' most common template. */
export const AUTO_CHAT_TEMPLATE = 'auto';

/** mergekit rejects a literal shorter than this (in characters) as a misspelt name. */
export const MIN_LITERAL_CHAT_TEMPLATE_LENGTH = 20;

/** The built-in templates by mergekit's names (mergekit/_data/chat_templates/NAME.jinja). */
export const NAMED_CHAT_TEMPLATES: Readonly<Record<string, string>> = {
  alpaca: String.raw`{#- Alpaca: the last system message, then Instruction / Input / Response sections. -#}
{%- set state = namespace(system='') -%}
{%- for message in messages -%}
    {%- if message['role'] == 'system' -%}{%- set state.system = message['content'] | trim -%}{%- endif -%}
{%- endfor -%}
{{- state.system + '\n\n' -}}
{%- set headings = {'user': '### Instruction:\n', 'user_context': '### Input:\n', 'assistant': '### Response:\n'} -%}
{%- for message in messages -%}
    {%- if message['role'] in headings -%}
        {{- headings[message['role']] + (message['content'] | trim) + ('' if loop.last else '\n\n') -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt and messages[-1]['role'] != 'assistant' -%}
    {{- '### Response:\n' -}}
{%- endif -%}
`,
  chatml: String.raw`{#- ChatML: <|im_start|>ROLE, the message, <|im_end|>. -#}
{%- for message in messages -%}
    {{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\n' -}}
{%- endif -%}
`,
  exaone: String.raw`{#- EXAONE: [|ROLE|] turns, [|endofturn|] after all but user turns, indented as mergekit's template renders them. -#}
{%- for message in messages -%}
    {%- if loop.first and message['role'] != 'system' -%}
        {{- '        [|system|][|endofturn|]\n\n' -}}
    {%- endif -%}
    {{- '    [|' + message['role'] + '|]' + message['content'] + '\n' -}}
    {{- '        \n\n' if message['role'] == 'user' else '        [|endofturn|]\n\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '    [|assistant|]\n' -}}
{%- endif -%}
`,
  llama3: String.raw`{#- Llama 3: BOS, then header, trimmed message and <|eot_id|> per turn, each on its own line. -#}
{%- for message in messages -%}
    {%- if loop.first -%}{{- bos_token -}}{%- endif -%}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + (message['content'] | trim) + '<|eot_id|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
{%- endif -%}
`,
  mistral: String.raw`{#- Mistral: BOS, [INST] user [/INST] answer EOS; an optional first system message joins the first user turn. -#}
{%- set turns = messages -%}
{%- set system = none -%}
{%- if messages[0]['role'] == 'system' -%}
    {%- set system = messages[0]['content'] -%}
    {%- set turns = messages[1:] -%}
{%- endif -%}
{{- bos_token -}}
{%- for message in turns -%}
    {%- if message['role'] not in ['user', 'assistant'] -%}
        {{- raise_exception('mistral: only user and assistant turns may follow the optional first system message') -}}
    {%- endif -%}
    {%- if (message['role'] == 'user') != (loop.index0 is even) -%}
        {{- raise_exception('mistral: turns must alternate user, assistant, user, ... after the optional system message') -}}
    {%- endif -%}
    {%- if message['role'] == 'user' -%}
        {{- ' [INST] ' + (system + '\n\n' if loop.first and system is not none else '') + message['content'] + ' [/INST]' -}}
    {%- else -%}
        {{- ' ' + message['content'] + eos_token -}}
    {%- endif -%}
{%- endfor -%}
`,
};

/** The built-in names, sorted, for messages and pickers. */
export const CHAT_TEMPLATE_NAMES: readonly string[] = Object.keys(NAMED_CHAT_TEMPLATES).sort();

/** What a `chat_template` value asks for. */
export type ChatTemplateChoice = { kind: 'auto' } | { kind: 'named'; name: string; text: string } | { kind: 'literal'; text: string };

/**
 * Reads a `chat_template` value in mergekit's order (`_set_chat_template`): `auto`, then a built-in
 * name, then a literal Jinja template; null for anything else (mergekit: "Invalid chat template"),
 * which is too short (under 20 characters, counted as Python counts them) or holds no `{`.
 */
export function chatTemplateChoice(value: string): ChatTemplateChoice | null {
  if (value === AUTO_CHAT_TEMPLATE) return { kind: 'auto' };
  if (Object.hasOwn(NAMED_CHAT_TEMPLATES, value)) return { kind: 'named', name: value, text: NAMED_CHAT_TEMPLATES[value] as string };
  if ([...value].length < MIN_LITERAL_CHAT_TEMPLATE_LENGTH || !value.includes('{')) return null;
  return { kind: 'literal', text: value };
}

/** Why a value is refused, listing what would be accepted. */
export function invalidChatTemplateMessage(value: string): string {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return (
    `chat_template '${shown}' is not '${AUTO_CHAT_TEMPLATE}', a built-in template (${CHAT_TEMPLATE_NAMES.join(', ')}) ` +
    `or a Jinja template (at least ${MIN_LITERAL_CHAT_TEMPLATE_LENGTH} characters with a '{')`
  );
}

/** How the model card and messages describe a chat_template value. */
export function describeChatTemplate(value: string): string {
  const choice = chatTemplateChoice(value);
  if (choice === null) return 'an invalid chat_template';
  if (choice.kind === 'auto') return 'auto: the template most of the input models share';
  if (choice.kind === 'named') return `${choice.name} (built in)`;
  return 'the Jinja template given in the plan';
}

/** Characters Python's str.strip() removes (str.isspace): JavaScript's trim differs (it strips U+FEFF, keeps U+001C–U+001F and U+0085). */
const PYTHON_SPACE = '[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const PYTHON_STRIP = new RegExp(`^${PYTHON_SPACE}+|${PYTHON_SPACE}+$`, 'gu');

/** Python's `str.strip()`. */
export function pythonStrip(text: string): string {
  return text.replace(PYTHON_STRIP, '');
}

/**
 * `chat_template: auto`: each model's template stripped, the most common one, ties going to the
 * first seen (merge.py `Counter(model_templates).most_common(1)`, over `referenced_models()`, each
 * model once); null when no model has one, and mergekit then leaves the tokenizer's own template.
 * mergekit lists the models from a set, so its tie order is arbitrary; here it is the order given.
 */
export function mostCommonChatTemplate(templates: Iterable<string | null>): string | null {
  const counts = new Map<string, number>();
  for (const template of templates) {
    // mergekit tests the template before stripping it: one of only spaces counts, as ''.
    if (template === null || template === '') continue;
    const stripped = pythonStrip(template);
    counts.set(stripped, (counts.get(stripped) ?? 0) + 1);
  }
  let best: string | null = null;
  let bestCount = 0;
  for (const [template, count] of counts) {
    if (count > bestCount) {
      best = template;
      bestCount = count;
    }
  }
  return best;
}
