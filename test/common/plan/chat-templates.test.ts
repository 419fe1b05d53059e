import { Template } from '@huggingface/jinja';
import { describe, expect, it } from 'vitest';
import {
  CHAT_TEMPLATE_NAMES,
  NAMED_CHAT_TEMPLATES,
  chatTemplateChoice,
  mostCommonChatTemplate,
  pythonStrip,
} from '../../../electron/common/plan/chat-templates.js';

type Message = { role: string; content: string };

const CONVERSATIONS: Record<string, Message[]> = {
  'system, user, assistant, user': [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello!' },
    { role: 'user', content: 'Bye' },
  ],
  'user, assistant with padded text': [
    { role: 'user', content: '  Hi\n' },
    { role: 'assistant', content: ' Hello! ' },
  ],
};

/**
 * What mergekit's template of each name renders (mergekit/_data/chat_templates/NAME.jinja under
 * transformers' Jinja settings, trim_blocks and lstrip_blocks), with bos_token <s> and eos_token
 * </s>: [conversation, add_generation_prompt, prompt].
 */
const MERGEKIT_RENDERS: Record<string, Array<[string, boolean, string]>> = {
  alpaca: [
    ["system, user, assistant, user", false, "Be brief.\n\n### Instruction:\nHi\n\n### Response:\nHello!\n\n### Instruction:\nBye"],
    ["system, user, assistant, user", true, "Be brief.\n\n### Instruction:\nHi\n\n### Response:\nHello!\n\n### Instruction:\nBye### Response:\n"],
    ["user, assistant with padded text", false, "\n\n### Instruction:\nHi\n\n### Response:\nHello!"],
    ["user, assistant with padded text", true, "\n\n### Instruction:\nHi\n\n### Response:\nHello!"],
  ],
  chatml: [
    ["system, user, assistant, user", false, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"],
    ["system, user, assistant, user", true, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"],
    ["user, assistant with padded text", false, "<|im_start|>user\n  Hi\n<|im_end|>\n<|im_start|>assistant\n Hello! <|im_end|>\n"],
    ["user, assistant with padded text", true, "<|im_start|>user\n  Hi\n<|im_end|>\n<|im_start|>assistant\n Hello! <|im_end|>\n<|im_start|>assistant\n"],
  ],
  exaone: [
    ["system, user, assistant, user", false, "    [|system|]Be brief.\n        [|endofturn|]\n\n    [|user|]Hi\n        \n\n    [|assistant|]Hello!\n        [|endofturn|]\n\n    [|user|]Bye\n        \n\n"],
    ["system, user, assistant, user", true, "    [|system|]Be brief.\n        [|endofturn|]\n\n    [|user|]Hi\n        \n\n    [|assistant|]Hello!\n        [|endofturn|]\n\n    [|user|]Bye\n        \n\n    [|assistant|]\n"],
    ["user, assistant with padded text", false, "        [|system|][|endofturn|]\n\n    [|user|]  Hi\n\n        \n\n    [|assistant|] Hello! \n        [|endofturn|]\n\n"],
    ["user, assistant with padded text", true, "        [|system|][|endofturn|]\n\n    [|user|]  Hi\n\n        \n\n    [|assistant|] Hello! \n        [|endofturn|]\n\n    [|assistant|]\n"],
  ],
  llama3: [
    ["system, user, assistant, user", false, "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\n<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\n<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>\n<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>\n"],
    ["system, user, assistant, user", true, "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\n<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\n<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>\n<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>\n<|start_header_id|>assistant<|end_header_id|>\n\n"],
    ["user, assistant with padded text", false, "<s><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\n<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>\n"],
    ["user, assistant with padded text", true, "<s><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\n<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>\n<|start_header_id|>assistant<|end_header_id|>\n\n"],
  ],
  mistral: [
    ["system, user, assistant, user", false, "<s> [INST] Be brief.\n\nHi [/INST] Hello!</s> [INST] Bye [/INST]"],
    ["system, user, assistant, user", true, "<s> [INST] Be brief.\n\nHi [/INST] Hello!</s> [INST] Bye [/INST]"],
    ["user, assistant with padded text", false, "<s> [INST]   Hi\n [/INST]  Hello! </s>"],
    ["user, assistant with padded text", true, "<s> [INST]   Hi\n [/INST]  Hello! </s>"],
  ],
};

function render(template: string, messages: Message[], addGenerationPrompt: boolean): string {
  return new Template(template).render({ messages, add_generation_prompt: addGenerationPrompt, bos_token: '<s>', eos_token: '</s>' });
}

describe('NAMED_CHAT_TEMPLATES (mergekit/_data/chat_templates)', () => {
  it('holds the names mergekit ships', () => {
    expect(CHAT_TEMPLATE_NAMES).toEqual(['alpaca', 'chatml', 'exaone', 'llama3', 'mistral']);
    expect(Object.keys(MERGEKIT_RENDERS).sort()).toEqual(CHAT_TEMPLATE_NAMES);
  });

  for (const [name, renders] of Object.entries(MERGEKIT_RENDERS)) {
    it.each(renders)(`${name} renders %s (add_generation_prompt %s) as mergekit's ${name}.jinja does`, (conversation, addGenerationPrompt, expected) => {
      expect(render(NAMED_CHAT_TEMPLATES[name] as string, CONVERSATIONS[conversation] as Message[], addGenerationPrompt)).toBe(expected);
    });
  }

  it("mistral refuses turns that do not alternate, as mergekit's mistral.jinja raises", () => {
    const template = NAMED_CHAT_TEMPLATES.mistral as string;
    expect(() => render(template, [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }], false)).toThrow(/alternate/);
    expect(() => render(template, [{ role: 'user', content: 'a' }, { role: 'tool', content: 'b' }], false)).toThrow(/only user and assistant/);
  });
});

describe('chatTemplateChoice (merge.py _set_chat_template)', () => {
  it('takes auto first, then a built-in name, then a literal', () => {
    expect(chatTemplateChoice('auto')).toEqual({ kind: 'auto' });
    expect(chatTemplateChoice('chatml')).toEqual({ kind: 'named', name: 'chatml', text: NAMED_CHAT_TEMPLATES.chatml });
    expect(chatTemplateChoice('{{ messages[0].content }}')).toEqual({ kind: 'literal', text: '{{ messages[0].content }}' });
  });

  it('refuses what is under 20 characters or holds no {, counting characters as Python does', () => {
    expect(chatTemplateChoice('chatml2')).toBeNull();
    expect(chatTemplateChoice('a template without braces at all')).toBeNull();
    expect(chatTemplateChoice('{{ m }}123456789012')).toBeNull(); // 19 characters
    expect(chatTemplateChoice('{{ m }}1234567890123')).not.toBeNull(); // 20
    // 19 code points but 20 UTF-16 units: Python's len() says 19.
    expect(chatTemplateChoice('{{ m }}12345678901😀')).toBeNull();
    // A name inherited from Object is no built-in template.
    expect(chatTemplateChoice('constructor')).toBeNull();
  });
});

describe('mostCommonChatTemplate (merge.py Counter(model_templates).most_common(1))', () => {
  it('counts templates stripped, each model once, and gives a tie to the first seen', () => {
    expect(mostCommonChatTemplate(['B', ' A\n', null, 'A', 'B '])).toBe('B');
    expect(mostCommonChatTemplate(['A', 'B'])).toBe('A');
    expect(mostCommonChatTemplate(['B', 'A', 'A'])).toBe('A');
  });

  it('is null when no model has a template, and counts one of only spaces as the empty template', () => {
    expect(mostCommonChatTemplate([null, ''])).toBeNull();
    expect(mostCommonChatTemplate(['  ', '\n', 'A'])).toBe('');
  });

  it("strips as Python's str.strip: U+FEFF stays, U+001C and U+0085 go", () => {
    expect(pythonStrip('\u001c\u0085 x\t\u3000')).toBe('x');
    expect(pythonStrip('\ufeffx')).toBe('\ufeffx');
  });
});
